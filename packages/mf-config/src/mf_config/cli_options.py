"""The mf command-line language, shared by the eight CLIs.

- Flags are snake_case, as MindFormers' scripts spell them (``--input_path``, ``--seq_length``); every flag also
  answers to its kebab-case spelling (``--input-path``). :func:`spell_both_ways` adds the other spelling to every
  option of a command, so a command defines each flag once (``mf_config.cli_support.MFGroup`` applies it).
- :func:`check_cli` pins a CLI: its options, spelling by spelling, equal a JSON snapshot kept beside its tests
  (an option that appears, disappears or is renamed fails until the snapshot changes with it), every option has
  a one-line help and every command an example.
"""

import json
import os
from pathlib import Path

import click

UPDATE = "MF_UPDATE_CLI_SNAPSHOTS"


def _other_spelling(name):
    body = name[2:] if name.startswith("--") else ""
    if "_" in body:
        return "--" + body.replace("_", "-")
    if "-" in body:
        return "--" + body.replace("-", "_")
    return None


def _quiet_help(param, added, help_record):
    """``--help`` lists the snake_case spellings, not their kebab-case twins (the group's help says once that
    both spellings work)."""

    def get_help_record(ctx):
        opts, secondary = param.opts, param.secondary_opts
        param.opts = [o for o in opts if o not in added]
        param.secondary_opts = [o for o in secondary if o not in added]
        try:
            return help_record(ctx)
        finally:
            param.opts, param.secondary_opts = opts, secondary

    return get_help_record


def spell_both_ways(command):
    """Give every long option of ``command`` both spellings, snake_case first; returns ``command``."""
    params = [p for p in command.params if isinstance(p, click.Option)]
    taken = {name for p in params for name in (*p.opts, *p.secondary_opts)}
    for param in params:
        for attr in ("opts", "secondary_opts"):
            names = []
            for name in getattr(param, attr):
                names.append(name)
                other = _other_spelling(name)
                if other and other not in taken:
                    names.append(other)
                    taken.add(other)
            names.sort(key=lambda n: "-" in n[2:])  # snake_case (and one-word) spellings first, order kept
            setattr(param, attr, names)
        kebab = {n for n in (*param.opts, *param.secondary_opts) if "-" in n[2:] and n.startswith("--")}
        if kebab:
            param.get_help_record = _quiet_help(param, kebab, param.get_help_record)
    return command


def snapshot(group):
    """``{command: {option or ARGUMENT: "every spelling"}}``: what a CLI accepts."""
    out = {}
    for name, command in sorted(group.commands.items()):
        entries = {}
        for param in command.params:
            if isinstance(param, click.Argument):
                entries[param.name.upper()] = "argument"
            else:
                entries[param.opts[0]] = " ".join(sorted({*param.opts, *param.secondary_opts}))
        out[name] = entries
    return out


def language_problems(group):
    """What breaks the shared language: a long option without a snake_case spelling, an option without help,
    a command without an example."""
    problems = []
    for name, command in sorted(group.commands.items()):
        if "Example" not in (command.help or ""):
            problems.append(f"{name}: its help has no example")
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            longs = [o for o in param.opts if o.startswith("--")]
            if longs and not any("-" not in o[2:] for o in longs):
                problems.append(f"{name} {param.opts[0]}: no snake_case spelling")
            if not (param.help or "").strip():
                problems.append(f"{name} {param.opts[0]}: no help")
    return problems


def check_cli(group, pinned):
    """Assert that ``group``'s options equal the snapshot at ``pinned`` and speak the shared language.

    With ``MF_UPDATE_CLI_SNAPSHOTS=1`` the snapshot is rewritten instead (a deliberate interface change).
    """
    current = snapshot(group)
    pinned = Path(pinned)
    if os.environ.get(UPDATE):
        pinned.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    expected = json.loads(pinned.read_text()) if pinned.is_file() else None
    assert current == expected, (f"the options of {group.name} changed; if deliberately, rerun with {UPDATE}=1 "
                                 f"and commit {pinned.name}:\n{json.dumps(current, indent=1, sort_keys=True)}")
    problems = language_problems(group)
    assert not problems, "\n".join(problems)
