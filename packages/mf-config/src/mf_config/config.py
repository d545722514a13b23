"""MindFormers task configs: YAML with anchors, ``base_config`` inheritance and dotted overrides."""

import copy
import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mf_config.errors import ConfigError, ConfigKeyError
from mf_config.fileio import atomic_write
from mf_config.safe_yaml import MAX_BYTES, load_yaml


class MFConfig(dict):
    """A dict whose keys are also attributes; nested mappings are MFConfig too.

    A missing attribute raises :class:`ConfigKeyError` naming the nearest existing key
    (use ``get(key, default)`` for optional keys). ``source(dotted_key)`` says the file and
    line a key came from; ``file()`` the file that was loaded.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_sources", {})
        object.__setattr__(self, "_file", None)
        object.__setattr__(self, "_prefix", "")
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def __setitem__(self, key, value):
        value = _wrap(value)
        if isinstance(value, MFConfig):
            value._set_prefix(f"{self._prefix}{key}.")
        super().__setitem__(key, value)

    def _set_prefix(self, prefix):
        object.__setattr__(self, "_prefix", prefix)
        for key, value in self.items():
            if isinstance(value, MFConfig):
                value._set_prefix(f"{prefix}{key}.")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise ConfigKeyError(f"no such key{_did_you_mean(name, self)}", key=self._prefix + name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise ConfigKeyError(f"no such key{_did_you_mean(name, self)}", key=self._prefix + name) from None

    def __reduce__(self):
        return (MFConfig, (self.to_dict(),))

    def __deepcopy__(self, memo):
        copy = MFConfig(self.to_dict())
        object.__setattr__(copy, "_sources", dict(self._sources))
        object.__setattr__(copy, "_file", self._file)
        return copy

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts and lists."""
        return _unwrap(self)

    def dump(self, path: str | os.PathLike | None = None) -> str:
        """YAML text of this config; written atomically to ``path`` when given."""
        text = yaml.dump(self.to_dict(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
        if path is not None:
            with atomic_write(path) as f:
                f.write(text)
        return text

    def file(self) -> str | None:
        """The path this config was loaded from, or None."""
        return self._file

    def source(self, dotted: str) -> str | None:
        """``"file:line"`` where a dotted key was set, or the file alone, or None."""
        where = self.where(dotted)
        if where is None:
            return None
        file, line = where
        return file if line is None else f"{file}:{line}"

    def where(self, dotted: str, nearest: bool = False) -> tuple[str, int | None] | None:
        """``(file, line)`` where a dotted key was set (``("override", None)`` for a command-line override), or
        None when unknown. With ``nearest``, a key that no file line set (it came from an alias or an override
        of a parent) gets the place of its nearest enclosing section that has one."""
        where = self._sources.get(dotted)
        while where is None and nearest and "." in dotted:
            dotted = dotted.rpartition(".")[0]
            where = self._sources.get(dotted)
        return where


class _Dumper(yaml.SafeDumper):
    """Floats always carry a dot (``1.0e-08``), so YAML 1.1 readers load them back as floats."""


def _represent_float(dumper, value):
    text = repr(value)
    if "e" in text and "." not in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    if text in ("nan", "inf", "-inf"):
        return dumper.represent_float(value)
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


_Dumper.add_representer(float, _represent_float)


def _wrap(value):
    if isinstance(value, MFConfig):
        return value
    if isinstance(value, dict):
        return MFConfig(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _unwrap(value):
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _did_you_mean(name, candidates):
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def did_you_mean(name, candidates):
    """`` (did you mean 'x'?)`` for the nearest candidate, or an empty string."""
    return _did_you_mean(name, candidates)


def read_yaml(path):
    """Parse one YAML file safely (anchors and aliases allowed, no Python tags).

    Returns ``(data, lines)`` where ``lines`` maps each dotted key to its line number.
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(f"{path.stat().st_size} bytes; a config file may have at most {MAX_BYTES}", file=path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", file=path) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, expected a YAML file", file=path) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=path) from None
    data, node = load_yaml(text, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at the top, found {type(data).__name__}", file=path, line=1)
    lines = {}
    _key_lines(node, "", lines)
    return data, lines


def _key_lines(node, prefix, out):
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            dotted = f"{prefix}{key_node.value}"
            out.setdefault(dotted, key_node.start_mark.line + 1)
            _key_lines(value_node, dotted + ".", out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _key_lines(item, f"{prefix}{i}.", out)


def deep_merge(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """``child`` over ``base``: mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for k, v in child.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


MAX_BASE_FILES = 64  # distinct files a config may inherit from
MAX_BASE_LOADS = 128  # base_config references followed in all (each file is read once)


def _load_tree(path, stack, seen):
    """``(data, sources)`` of ``path`` with its ``base_config`` chain merged in; ``seen`` caches the files read in
    this load (a chain naming one file twice, or many times, reads it once) and counts the references."""
    path = Path(path).resolve()
    if path in stack:
        chain = " -> ".join(str(p) for p in [*stack, path])
        raise ConfigError(f"base_config cycle: {chain}", file=stack[-1], key="base_config")
    seen.setdefault("files", set()).add(path)
    seen["loads"] = seen.get("loads", 0) + 1
    if seen["loads"] > MAX_BASE_LOADS or len(seen["files"]) > MAX_BASE_FILES:
        raise ConfigError(f"base_config chain too large (more than {MAX_BASE_FILES} files or {MAX_BASE_LOADS} "
                          "references)", file=stack[-1] if stack else path, key="base_config")
    if path not in seen:
        seen[path] = _merge_bases(path, stack, seen)
    data, sources = seen[path]
    return copy.deepcopy(data), dict(sources)


def _merge_bases(path, stack, seen):
    data, lines = read_yaml(path)
    sources = {k: (str(path), n) for k, n in lines.items()}
    bases = data.pop("base_config", None)
    if bases is None:
        return data, sources
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError("expected a path or a list of paths", file=path, line=lines.get("base_config"),
                          key="base_config")
    merged, merged_sources = {}, {}
    for base in bases:
        base_path = path.parent / base
        if not base_path.is_file():
            raise ConfigError(f"base file not found: {base_path}", file=path, line=lines.get("base_config"),
                              key="base_config")
        base_data, base_sources = _load_tree(base_path, [*stack, path], seen)
        merged = deep_merge(merged, base_data)
        merged_sources.update(base_sources)
    merged_sources.update({k: v for k, v in sources.items() if k != "base_config"})
    return deep_merge(merged, data), merged_sources


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b.c=value"`` -> ``(["a", "b", "c"], value)`` with the value typed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip().lstrip("-")
    parts = key.split(".")
    if not sep or not key or any(not p for p in parts):
        raise ConfigError(f"bad override '{text}': expected KEY=VALUE with a dotted KEY such as "
                          "model.model_config.num_layers=2")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):  # YAML 1.1 reads 1e-6 (no dot) as a string; a user means the number
        try:
            value = float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            pass
    return parts, value


def apply_override(data, parts, value):
    """Set ``data[parts[0]][parts[1]]... = value``; list items are addressed by index."""
    node = data
    for i, part in enumerate(parts[:-1]):
        dotted = ".".join(parts[: i + 1])
        if isinstance(node, list):
            node = node[_list_index(part, node, dotted)]
            continue
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        elif not isinstance(nxt, (dict, list)):
            raise ConfigError(f"cannot set '{'.'.join(parts)}': '{dotted}' is a {type(nxt).__name__}, "
                              "not a section", key=".".join(parts))
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(last, node, ".".join(parts))] = value
    else:
        node[last] = value


def _list_index(part, items, dotted):
    try:
        index = int(part)
        items[index]
    except (ValueError, IndexError):
        raise ConfigError(f"'{part}' is not an index of a list of {len(items)} items", key=dotted) from None
    return index


def load_config(path, overrides=()):
    """Read a MindFormers task YAML: anchors, ``base_config`` inheritance, then dotted overrides.

    ``overrides`` is an iterable of ``"a.b.c=value"`` strings or a mapping of dotted keys to values. Any key
    is set; ``mf_config.load_config`` (:func:`mf_config.schema.load_config`) also refuses unknown override keys.
    """
    data, sources = _load_tree(path, [], {})
    items = overrides.items() if isinstance(overrides, dict) else [parse_override(o) for o in overrides]
    for parts, value in items:
        if isinstance(parts, str):
            parts = parts.split(".")
        apply_override(data, parts, value)
        sources[".".join(parts)] = ("override", None)
    cfg = MFConfig(data)
    object.__setattr__(cfg, "_sources", sources)
    object.__setattr__(cfg, "_file", str(Path(path)))
    return cfg
