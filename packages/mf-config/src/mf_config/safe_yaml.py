"""YAML parsing with bounds: ``yaml.safe_load`` semantics (anchors and aliases, no Python tags), but a file is
refused, with its line, when it is too large, nested too deep, expands (through aliases) to too many values,
refers to itself, repeats a key, or holds a value its tag cannot make (``!!float x``, a 5000-digit integer).

Aliases are kept shared while parsing, but everything after (merging, validation, dumping) walks the expanded
tree, so an alias bomb of a few hundred bytes would hang it: the expanded size is counted on the node graph.
"""

import yaml

from mf_config.errors import ConfigError

MAX_BYTES = 1 << 20  # a MindFormers task file is a few KB (the largest shipped one: 6 KB, 435 values)
MAX_DEPTH = 64
MAX_NODES = 20_000  # values written in the file (parsing is pure Python: about 40 us a value)
MAX_VALUES = 100_000  # values after alias expansion


class _Problem(Exception):
    """A bound or value problem at a node (turned into a ConfigError with the file and line)."""

    def __init__(self, message, mark):
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else None


def _short(value, n=40):
    text = str(value)
    return text if len(text) <= n else text[:n] + "..."


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that limits nesting while composing, refuses duplicate keys and turns a value that its tag
    cannot make into a _Problem at the value's line."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Problem(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            if self._nodes > MAX_NODES:
                raise _Problem(f"more than {MAX_NODES} values", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        seen = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            first = seen.setdefault((key.tag, key.value), key.start_mark)
            if first is not key.start_mark:
                raise _Problem(f"duplicate key '{_short(key.value)}' (first on line {first.line + 1})",
                               key.start_mark)
        return node

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, _Problem):
            raise
        except Exception as e:  # noqa: BLE001 - whatever a tag's constructor raises is the file's fault
            tag = node.tag.rsplit(":", 1)[-1]
            raise _Problem(f"cannot read {_short(node.value)!r} as {tag}: {_short(e, 120)}", node.start_mark) \
                from None


def _children(node):
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return ()


def check_expansion(root):
    """Count the values ``root`` expands to (aliases repeated) and its depth, without expanding it; _Problem when
    over the bounds or when an alias refers to a node that contains it."""
    size, on_path, stack = {}, set(), [(root, False)]
    depth = {}
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_VALUES:
                raise _Problem(f"expands to more than {MAX_VALUES} values (aliases included)", node.start_mark)
            if depth[key] > MAX_DEPTH:
                raise _Problem(f"nested deeper than {MAX_DEPTH} levels (aliases included)", node.start_mark)
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise _Problem("an alias refers to a collection that contains it (recursive alias)",
                               child.start_mark)
            if id(child) not in size:
                stack.append((child, False))
    return size.get(id(root), 0)


def load_yaml(text, file):
    """``(data, root node)`` of one YAML document; ConfigError naming ``file`` and the line on any problem."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{len(text)} characters; a config file may have at most {MAX_BYTES}", file=file)
    if "\x00" in text:  # PyYAML's reader would name the position in characters; the line is more useful
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ConfigError("a NUL byte: not a text file", file=file, line=line)
    loader = None
    try:
        loader = BoundedLoader(text)
        node = loader.get_single_node()
        if node is not None:
            check_expansion(node)
        data = loader.construct_document(node) if node is not None else None
    except _Problem as e:
        raise ConfigError(str(e), file=file, line=e.line) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = " ".join(p for p in (e.context, e.problem) if p)
        raise ConfigError(f"YAML syntax error: {problem}", file=file, line=mark.line + 1 if mark else None) \
            from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        code = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or "\0")
        raise ConfigError(f"character U+{code:04X} is not allowed in YAML", file=file, line=line) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"YAML error: {_short(e, 200)}", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node
