"""Renders chat-template goldens for tests/test_chat_template.cpp with jinja2, the way
Hugging Face's apply_chat_template does (sandboxed environment, trim_blocks, lstrip_blocks,
loopcontrols, raise_exception).

Templates:
  - llama3, qwen3: the REAL chat_template of /work/shared/tokenizers/{llama3,qwen3}/
    tokenizer_config.json (read here; only the rendered text is stored in tests/data);
  - llama2, mistral, chatml, phi3, gemma: the published templates of Llama-2-7b-chat-hf,
    Mistral-7B-Instruct-v0.1, the ChatML convention (OpenHermes), Phi-3.5-mini-instruct and
    gemma-7b-it, stored as test input in tests/data/chat_templates/<name>.jinja.

Every conversation below is rendered with every template. Where the template raises (Gemma
and Mistral v1 refuse a system message, several templates demand strict user/assistant
alternation) the manifest records the error instead of an output, and the C++ renderer must
throw too. add_generation_prompt=False is rendered for one conversation per template, except
for llama3: that (original Meta-Llama-3-Instruct) template appends the assistant header
unconditionally, while the C++ renderer honours the flag as Meta's later template does.
Qwen3 is also rendered once with enable_thinking=False (otherwise the variable is unset).

Needs only python3-jinja2 (Debian package). Run from anywhere:
    python3 scripts/reference/gen_chat_templates.py
"""
import json
import os

import jinja2
import jinja2.ext
import jinja2.sandbox

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT_DIR = os.path.join(ROOT, "tests", "data", "chat_templates")
SHARED_DIR = os.environ.get("LLMPP_SHARED_DIR", os.path.join(ROOT, "..", "shared"))

SYSTEM = {"role": "system", "content": "You are a concise assistant."}
USER_1 = {"role": "user", "content": "What is the capital of France?"}
ASSISTANT_1 = {"role": "assistant", "content": "Paris."}
USER_2 = {"role": "user", "content": "And of Italy?"}

# Content with surrounding whitespace, including Unicode spaces that Python's str.strip()
# (hence Jinja's trim) removes: U+00A0, U+3000, U+2009, U+0085, U+001F.
WS_SYSTEM = {"role": "system", "content": "\n  Be brief.\t\n"}
WS_USER_1 = {"role": "user", "content": "\u00a0 Hello\u3000there \u2009"}
WS_ASSISTANT_1 = {"role": "assistant", "content": "\n\nHi!\u0085 \u001f"}
WS_USER_2 = {"role": "user", "content": "  inner  spaces\nkept  \r\n"}

THINK_ASSISTANT = {"role": "assistant", "content": "<think>\nThe user wants a capital.\n</think>\n\nParis."}

CONVERSATIONS = {
    "system_user_assistant_user": [SYSTEM, USER_1, ASSISTANT_1, USER_2],
    "user_assistant_user": [USER_1, ASSISTANT_1, USER_2],
    "single_user": [USER_1],
    "whitespace": [WS_SYSTEM, WS_USER_1, WS_ASSISTANT_1, WS_USER_2],
    "whitespace_no_system": [WS_USER_1, WS_ASSISTANT_1, WS_USER_2],
    "empty_system": [{"role": "system", "content": ""}, USER_1],
    "user_user": [USER_1, USER_2],
    # Qwen3 drops the reasoning of assistant turns before the last user query...
    "thinking_history": [USER_1, THINK_ASSISTANT, USER_2],
    # ...and keeps it (or adds an empty <think> block) after it.
    "thinking_last": [SYSTEM, USER_1, THINK_ASSISTANT],
    "assistant_last": [USER_1, ASSISTANT_1],
    "tool_responses": [
        USER_1,
        {"role": "assistant", "content": "<think>\nLook it up.\n</think>\n\nCalling the atlas."},
        {"role": "tool", "content": "{\"capital\": \"Paris\"}"},
        {"role": "tool", "content": "{\"country\": \"France\"}"},
    ],
    "tool_response_in_user": [
        USER_1,
        THINK_ASSISTANT,
        {"role": "user", "content": "<tool_response>\n42\n</tool_response>"},
    ],
}

NO_GENERATION_PROMPT_CONVERSATION = {
    "llama2": "system_user_assistant_user",
    "mistral": "user_assistant_user",
    "chatml": "system_user_assistant_user",
    "phi3": "system_user_assistant_user",
    "gemma": "user_assistant_user",
    "qwen3": "system_user_assistant_user",
}


def shared_template(name):
    path = os.path.join(SHARED_DIR, "tokenizers", name, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    return config["chat_template"], config.get("bos_token") or "", config.get("eos_token") or ""


def local_template(name):
    with open(os.path.join(OUT_DIR, name + ".jinja"), encoding="utf-8") as f:
        return f.read()


def make_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = raise_exception
    return env


def main():
    llama3_source, llama3_bos, llama3_eos = shared_template("llama3")
    qwen3_source, qwen3_bos, qwen3_eos = shared_template("qwen3")
    templates = {
        # name: (jinja source, bos_token, eos_token, where the source lives)
        "llama2": (local_template("llama2"), "<s>", "</s>", "chat_templates/llama2.jinja"),
        "llama3": (llama3_source, llama3_bos, llama3_eos, "shared:tokenizers/llama3/tokenizer_config.json"),
        "mistral": (local_template("mistral"), "<s>", "</s>", "chat_templates/mistral.jinja"),
        "chatml": (local_template("chatml"), "", "<|im_end|>", "chat_templates/chatml.jinja"),
        "phi3": (local_template("phi3"), "<s>", "<|endoftext|>", "chat_templates/phi3.jinja"),
        "gemma": (local_template("gemma"), "<bos>", "<eos>", "chat_templates/gemma.jinja"),
        "qwen3": (qwen3_source, qwen3_bos, qwen3_eos, "shared:tokenizers/qwen3/tokenizer_config.json"),
    }

    env = make_environment()
    manifest = {"conversations": CONVERSATIONS, "templates": {}, "cases": []}
    for name, (source, bos, eos, where) in templates.items():
        manifest["templates"][name] = {"source": where, "bos_token": bos, "eos_token": eos}
        compiled = env.from_string(source)
        # (conversation, add_generation_prompt, extra template variables)
        runs = [(conversation, True, {}) for conversation in CONVERSATIONS]
        if name in NO_GENERATION_PROMPT_CONVERSATION:
            runs.append((NO_GENERATION_PROMPT_CONVERSATION[name], False, {}))
        if name == "qwen3":
            runs.append(("system_user_assistant_user", True, {"enable_thinking": False}))
        for conversation, add_generation_prompt, extra in runs:
            case = {"template": name, "conversation": conversation, "add_generation_prompt": add_generation_prompt}
            case.update(extra)
            try:
                text = compiled.render(messages=CONVERSATIONS[conversation], add_generation_prompt=add_generation_prompt,
                                       bos_token=bos, eos_token=eos, **extra)
            except jinja2.exceptions.TemplateError as error:
                case["raises"] = str(error)
            else:
                suffix = "" if add_generation_prompt else "__no_generation_prompt"
                suffix += "__no_thinking" if extra.get("enable_thinking") is False else ""
                file_name = f"{name}__{conversation}{suffix}.txt"
                with open(os.path.join(OUT_DIR, file_name), "w", encoding="utf-8", newline="") as f:
                    f.write(text)
                case["output"] = file_name
            manifest["cases"].append(case)

    with open(os.path.join(OUT_DIR, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")
    n_raise = sum("raises" in c for c in manifest["cases"])
    print(f"{len(manifest['cases'])} cases ({n_raise} raise) written to {os.path.normpath(OUT_DIR)}")


if __name__ == "__main__":
    main()
