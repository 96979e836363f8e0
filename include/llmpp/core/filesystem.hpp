// Path queries that never throw. std::filesystem's throwing overloads raise
// std::filesystem::filesystem_error for a path the system refuses to look at (a name longer
// than NAME_MAX, a component that is a file, a folder without permission), which would leave
// the library's typed errors behind: a shard name of 300 bytes in an index found this. Here
// such a path is simply not there, and the caller raises its own typed error naming it.
#pragma once

#include <filesystem>
#include <system_error>
#include <vector>

namespace llmpp {

inline bool path_exists(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::exists(path, error);
}

inline bool is_folder(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::is_directory(path, error);
}

inline bool is_file(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error);
}

// The regular files directly in `folder`, in no particular order; none when it cannot be read.
inline std::vector<std::filesystem::path> files_in(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (std::filesystem::directory_iterator it(folder, error), end; !error && it != end; it.increment(error))
    if (is_file(it->path())) files.push_back(it->path());
  return files;
}

}  // namespace llmpp
