// Stop strings over streamed pieces: the stop string never reaches the output, text that
// only looked like the start of one is released intact, and nothing else is lost.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "llmpp/sampling/stop.hpp"

namespace {

using llmpp::sampling::StopStringMatcher;

struct StreamResult {
  std::string text;
  bool stopped = false;
  int matched_index = -1;
  size_t pieces_consumed = 0;  // pieces fed up to and including the one that stopped
};

// Feeds the pieces one by one as a generation loop would, flushing at the end.
StreamResult stream(StopStringMatcher& matcher, const std::vector<std::string>& pieces) {
  StreamResult result;
  for (const std::string& piece : pieces) {
    ++result.pieces_consumed;
    if (matcher.feed(piece, result.text)) {
      result.stopped = true;
      result.matched_index = matcher.matched_index();
      return result;
    }
  }
  matcher.flush(result.text);
  return result;
}

TEST(StopStringMatcher, StopInsideOnePiece) {
  StopStringMatcher matcher({"<|im_end|>"});
  const StreamResult r = stream(matcher, {"Hello", " world<|im_end|>trailing", "never seen"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "Hello world");
  EXPECT_EQ(r.pieces_consumed, 2u);
  EXPECT_EQ(r.matched_index, 0);
}

TEST(StopStringMatcher, StopSplitAcrossTwoPieces) {
  StopStringMatcher matcher({"User:"});
  std::string out;
  EXPECT_FALSE(matcher.feed("Sure.\nUs", out));
  EXPECT_EQ(out, "Sure.\n");  // "Us" is held back: it may be the start of "User:"
  EXPECT_EQ(matcher.n_pending(), 2u);
  EXPECT_TRUE(matcher.feed("er: next", out));
  EXPECT_EQ(out, "Sure.\n");
}

TEST(StopStringMatcher, StopSplitAcrossThreePieces) {
  StopStringMatcher matcher({"</answer>"});
  const StreamResult r = stream(matcher, {"42 </", "ans", "wer> and more"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "42 ");
  EXPECT_EQ(r.pieces_consumed, 3u);
}

TEST(StopStringMatcher, PartialMatchThatFailsIsReleasedIntact) {
  StopStringMatcher matcher({"User:"});
  std::string out;
  EXPECT_FALSE(matcher.feed("Ask the Us", out));
  EXPECT_EQ(out, "Ask the ");
  EXPECT_FALSE(matcher.feed("e", out));  // "Use" is still a prefix of "User:"
  EXPECT_EQ(out, "Ask the ");
  EXPECT_FALSE(matcher.feed("d car", out));  // "Used" is not: all of it is released
  EXPECT_EQ(out, "Ask the Used car");
  EXPECT_EQ(matcher.n_pending(), 0u);
  EXPECT_FALSE(matcher.stopped());
}

TEST(StopStringMatcher, HeldTailIsFlushedAtTheEnd) {
  StopStringMatcher matcher({"###"});
  const StreamResult r = stream(matcher, {"a #", "#"});
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.text, "a ##");
}

TEST(StopStringMatcher, FailedMatchRestartsInsideItself) {
  // "aab" must be found in "aaab" although the first 'a' begins a failed attempt.
  StopStringMatcher matcher({"aab"});
  const StreamResult r = stream(matcher, {"x", "a", "a", "a", "b", "y"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "xa");
}

TEST(StopStringMatcher, SeveralStopStringsEarliestWins) {
  StopStringMatcher matcher({"\n\n", "User:", "<|eot_id|>"});
  StreamResult r = stream(matcher, {"one", " User", ": two\n\nthree"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "one ");
  EXPECT_EQ(r.matched_index, 1);

  matcher.reset();
  r = stream(matcher, {"a\n", "\nUser:"});
  EXPECT_EQ(r.text, "a");
  EXPECT_EQ(r.matched_index, 0);

  matcher.reset();
  r = stream(matcher, {"x<|eot", "_id|>"});
  EXPECT_EQ(r.text, "x");
  EXPECT_EQ(r.matched_index, 2);
}

TEST(StopStringMatcher, OneStopStringPrefixOfAnother) {
  // Both could still match while "<|end" is held; "<|end|>" completes first.
  StopStringMatcher matcher({"<|endoftext|>", "<|end|>"});
  const StreamResult r = stream(matcher, {"ok<|end", "|>"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "ok");
  EXPECT_EQ(r.matched_index, 1);
}

TEST(StopStringMatcher, StopAtTheVeryStart) {
  StopStringMatcher matcher({"<end_of_turn>"});
  StreamResult r = stream(matcher, {"<end_of_turn>", "text"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(r.pieces_consumed, 1u);

  matcher.reset();
  r = stream(matcher, {"<end", "_of_", "turn>"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
}

TEST(StopStringMatcher, IgnoresPiecesAfterAStopUntilReset) {
  StopStringMatcher matcher({"STOP"});
  std::string out;
  EXPECT_TRUE(matcher.feed("aSTOPb", out));
  EXPECT_TRUE(matcher.feed("more", out));
  EXPECT_EQ(out, "a");
  matcher.reset();
  EXPECT_FALSE(matcher.feed("fresh", out));
  EXPECT_EQ(out, "afresh");
}

TEST(StopStringMatcher, MultiByteTextIsNeverSplit) {
  // The held tail starts where a stop string could start, i.e. at one of its first bytes,
  // so a UTF-8 character before it is released whole.
  StopStringMatcher matcher({"«fin»"});
  std::string out;
  EXPECT_FALSE(matcher.feed("été «f", out));
  EXPECT_EQ(out, "été ");
  EXPECT_TRUE(matcher.feed("in»", out));
  EXPECT_EQ(out, "été ");
}

TEST(StopStringMatcher, NoStopStringsPassesEverythingThrough) {
  StopStringMatcher matcher({});
  const StreamResult r = stream(matcher, {"a", "b"});
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.text, "ab");
}

TEST(StopStringMatcher, RejectsEmptyStopString) {
  EXPECT_THROW(StopStringMatcher({"ok", ""}), llmpp::InvalidArgument);
}

}  // namespace
