#!/usr/bin/env python3
"""Generate known-good chat-template renderings for ember's template tests.

Renders every tests/fixtures/templates/NAME.jinja against every conversation in
tests/fixtures/templates/cases.json exactly the way Hugging Face transformers'
`apply_chat_template` does (see transformers/utils/chat_template_utils.py):

  * jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True,
    lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols])
    (all other options at jinja2 defaults, e.g. keep_trailing_newline=False)
  * a `tojson` filter that does NOT escape HTML and keeps non-ASCII
  * globals `raise_exception` and `strftime_now`
  * the `{% generation %}...{% endgeneration %}` block as a pass-through
  * render variables: messages, tools=None, documents=None,
    add_generation_prompt, plus the tokenizer's special tokens
    (bos_token / eos_token; a token that is null in cases.json is omitted,
    just as transformers omits special tokens that are None).

To keep the output reproducible `strftime_now` formats a FIXED instant,
2026-01-15 12:00:00, instead of the current time.

Outputs, under tests/fixtures/templates/expected/:
  NAME.CONV.txt    the exact rendering (byte-exact, UTF-8, no added newline)
  NAME.CONV.error  the exception message, when the template raised

Usage: python3 scripts/gen-template-fixtures.py   (needs `pip install jinja2`)
"""

import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.sandbox
from jinja2.exceptions import TemplateError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "templates")
EXPECTED = os.path.join(FIXTURES, "expected")

FIXED_NOW = datetime(2026, 1, 15, 12, 0, 0)


class AssistantTracker(jinja2.ext.Extension):
    """transformers' `{% generation %}` block; here it just renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(
            self.call_method("_render_generation"), [], [], body
        ).set_lineno(lineno)

    def _render_generation(self, caller):
        return caller()


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # Same as transformers: unlike jinja2's built-in tojson, no HTML escaping.
    return json.dumps(
        x,
        ensure_ascii=ensure_ascii,
        indent=indent,
        separators=separators,
        sort_keys=sort_keys,
    )


def raise_exception(message):
    raise TemplateError(message)


def strftime_now(format):
    return FIXED_NOW.strftime(format)


def make_env():
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[AssistantTracker, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


# ember's --reasoning settings and the keyword arguments each passes to the template (as
# transformers' apply_chat_template(**kwargs) does); the same table as `Reasoning::template_vars`
# in src/engine/template.rs. Rendered for the conversations in REASONING_CONVERSATIONS.
REASONING = {
    "on": {"enable_thinking": True, "thinking": True},
    "off": {"enable_thinking": False, "thinking": False},
    "high": {"enable_thinking": True, "thinking": True, "reasoning_effort": "high"},
}
REASONING_CONVERSATIONS = ("multi", "think")


def render(env, source, tokens, conv, extra=None):
    template = env.from_string(source)
    kwargs = {k: v for k, v in tokens.items() if v is not None}
    kwargs.update(extra or {})
    return template.render(
        messages=conv["messages"],
        tools=None,
        documents=None,
        add_generation_prompt=conv["add_generation_prompt"],
        **kwargs,
    )


def main():
    with open(os.path.join(FIXTURES, "cases.json"), encoding="utf-8") as f:
        cases = json.load(f)

    os.makedirs(EXPECTED, exist_ok=True)
    # Remove stale outputs so a case that flips between .txt and .error
    # never leaves both behind.
    for name in os.listdir(EXPECTED):
        if name.endswith(".txt") or name.endswith(".error"):
            os.remove(os.path.join(EXPECTED, name))

    env = make_env()
    errors = []
    for name, tokens in cases["templates"].items():
        with open(os.path.join(FIXTURES, name + ".jinja"), "rb") as f:
            source = f.read().decode("utf-8")
        variants = [(conv_name, conv, None) for conv_name, conv in cases["conversations"].items()]
        variants += [
            ("%s.reasoning-%s" % (conv_name, setting), cases["conversations"][conv_name], extra)
            for conv_name in REASONING_CONVERSATIONS
            for setting, extra in REASONING.items()
        ]
        for conv_name, conv, extra in variants:
            base = os.path.join(EXPECTED, "%s.%s" % (name, conv_name))
            try:
                out = render(env, source, tokens, conv, extra)
            except TemplateError as e:
                msg = str(e)
                errors.append("%s.%s: %s" % (name, conv_name, msg))
                with open(base + ".error", "wb") as f:
                    f.write(msg.encode("utf-8"))
                continue
            with open(base + ".txt", "wb") as f:
                f.write(out.encode("utf-8"))

    print("jinja2 %s" % jinja2.__version__)
    print(
        "rendered %d templates x %d conversations"
        % (len(cases["templates"]), len(cases["conversations"]))
    )
    for e in errors:
        print("error  " + e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
