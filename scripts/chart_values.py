"""Which of the value paths a role sets does a Helm chart actually read? (Used by scripts/render_charts.py.)

A value a chart never reads is a setting that silently does nothing. A path `a.b.c` of our values counts as read when

1. it is defined in the chart's values.yaml (or in a subchart's, under the subchart's name or alias; `global.*` in any),
2. or a template reads it, or a path below it: `.Values.a.b.c` from any root (`$.Values`, `$root.Values`, ...),
   `index .Values.a "b" "c"`, `(index .Values "a").b.c`, `hasKey`/`get`/`pick` with literal keys, a variable bound to
   `.Values.a` (`$x.b.c`), the dot of `with .Values.a` (`.b.c`), or the dot of a named template included with a part
   of .Values (`include "x" .Values.a`, `include "x" (dict "ctx" .Values.a)` read as `.ctx.b.c` in its body);
   values.yaml strings that a template passes through tpl count as templates (Loki's loki.config),
3. or a template passes a parent on whole: `range` over it, or hands it to toYaml, toJson, tpl, include (when the
   named template cannot be followed), keys, dict, omit, ... (directly or piped, through default/merge/deepCopy).
   This is how free-form maps (Gitea's `gitea.config`, any `nodeSelector`, `podAnnotations`, JCasC `configScripts`,
   ...) are recognised, generically, without a list of exceptions. `.Values` as a whole handed to a helper says
   nothing about any one path and does not count,
4. or the chart's values.schema.json names it (`properties` along the path) or allows it explicitly
   (`additionalProperties`/`patternProperties` at a parent).

Lists are leaves: a list value is one path. Pure functions over the archive's files; no Helm engine needed.
"""

import dataclasses
import json
import posixpath
import re

import yaml


@dataclasses.dataclass
class ChartSource:
    name: str
    values: dict
    schema: object
    templates: dict  # path -> text
    subcharts: dict  # values key (alias or name) -> ChartSource
    _reads: list = None  # (key tuple, passed on whole) per reference

    def reads(self):
        if self._reads is None:
            # values.yaml strings are templates too when a template tpl's them (Loki's loki.config)
            self._reads = template_reads(list(self.templates.values()) + list(_template_strings(self.values)))
        return self._reads


def _template_strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _template_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _template_strings(value)
    elif isinstance(node, str) and "{{" in node:
        yield node


def _files_of(tar):
    files = {}
    for member in tar.getmembers():
        if member.isfile():
            files[member.name] = tar.extractfile(member).read()
    return files


def _source_from_files(files, top):
    """A ChartSource from archive files {path: bytes} of the chart rooted at directory `top`."""
    import io
    import tarfile

    def text(rel):
        data = files.get(posixpath.join(top, rel))
        return None if data is None else data.decode("utf-8", "replace")

    meta = yaml.safe_load(text("Chart.yaml") or "{}") or {}
    values = yaml.safe_load(text("values.yaml") or "{}") or {}
    schema_text = text("values.schema.json")
    schema = json.loads(schema_text) if schema_text else None
    prefix = top + "/templates/"
    templates = {p[len(top) + 1:]: d.decode("utf-8", "replace") for p, d in files.items() if p.startswith(prefix)}
    aliases = {d.get("name"): d.get("alias") or d.get("name") for d in meta.get("dependencies") or []}
    subcharts = {}
    charts_prefix = top + "/charts/"
    seen_dirs = set()
    for path in sorted(files):
        if not path.startswith(charts_prefix):
            continue
        rest = path[len(charts_prefix):]
        if "/" not in rest and rest.endswith(".tgz"):
            inner = tarfile.open(fileobj=io.BytesIO(files[path]), mode="r:gz")
            inner_files = _files_of(inner)
            inner_top = sorted(inner_files)[0].split("/", 1)[0]
            sub = _source_from_files(inner_files, inner_top)
        elif rest.count("/") >= 1 and rest.split("/", 1)[1] == "Chart.yaml":
            directory = rest.split("/", 1)[0]
            if directory in seen_dirs:
                continue
            seen_dirs.add(directory)
            sub = _source_from_files(files, charts_prefix + directory)
        else:
            continue
        subcharts[aliases.get(sub.name, sub.name)] = sub
    return ChartSource(meta.get("name", top), values, schema, templates, subcharts)


def chart_sources(tar):
    """ChartSource of a chart archive (an open tarfile), subcharts included (directories or nested archives)."""
    files = _files_of(tar)
    top = sorted(files)[0].split("/", 1)[0]
    return _source_from_files(files, top)


# Functions that take a value on whole: a map given to them is read key by key, or all of it is rendered.
WHOLE_FUNCS = {"toYaml", "toJson", "toPrettyJson", "toRawJson", "mustToJson", "mustToPrettyJson", "mustToRawJson", "tpl",
               "include", "template", "keys", "values", "omit", "dict", "list", "append", "concat", "fromYaml", "dig",
               "toToml", "b64enc", "sha256sum"}
# Functions that hand their argument on (a map stays the map): what the next stage does with it decides.
PASS_FUNCS = {"default", "coalesce", "or", "and", "required", "deepCopy", "mustDeepCopy", "merge", "mergeOverwrite",
              "mustMerge", "mustMergeOverwrite"}
BUILTIN_FIELDS = {"Values", "Release", "Chart", "Capabilities", "Template", "Files", "Subcharts"}
ACTION = re.compile(r"\{\{-?(.*?)-?\}\}", re.S)


def _actions(text):
    """The inner text of every {{ ... }} action, comments left out."""
    for match in ACTION.finditer(text):
        inner = match.group(1).strip()
        if not inner.startswith("/*"):
            yield inner


def _split_top(text, sep):
    """text split on sep outside quotes and parentheses."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = None
        elif ch in "\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and (ch == sep or (sep == " " and ch.isspace())):
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _defines(texts):
    """{name: [action inner, ...]} of every named template (define) in the texts."""
    defines = {}
    for text in texts:
        stack = []
        for inner in _actions(text):
            keyword = inner.split(None, 1)[0] if inner else ""
            if keyword == "define":
                stack.append((re.findall(r'"([^"]*)"', inner)[:1] or [""])[0])
                defines.setdefault(stack[-1], [])
                continue
            if stack and keyword in ("if", "with", "range", "block"):
                stack.append(None)
            if stack and keyword == "end":
                if stack.pop() is not None:
                    continue
            for name in stack:
                if name is not None:
                    defines[name].append(inner)
                    break
    return defines


class _Reads:
    """Walks a template's actions, keeping the dot of each with-block, the variables bound to .Values paths, and
    following named templates (include "x" .Values.y, include "x" (dict "k" .Values.y)) into their bodies."""

    def __init__(self, defines, dot=None, depth=0, seen=None):
        self.reads = []
        self.variables = {}
        # the dot: a .Values path, a {key: path} of a dict given to a named template, or None (root, element, unknown)
        self.scopes = [dot]
        self.root = dot
        self.defines, self.depth, self.seen = defines, depth, seen if seen is not None else set()

    @staticmethod
    def _relative(scope, keys):
        if isinstance(scope, dict):
            if not keys or keys[0] not in scope or scope[keys[0]] is None:
                return None
            return scope[keys[0]] + keys[1:]
        return None if scope is None else scope + keys

    def ref(self, token):
        """The .Values path a token names (.Values.a.b from any root: $, $root, .root, ...; a variable bound to a
        .Values path; the dot of a with-block or named template on one), or None."""
        match = re.match(r"^[$.\w]*?\.Values((?:\.[A-Za-z_]\w*)*)$", token)
        if match:
            return tuple(k for k in match.group(1).split(".") if k)
        match = re.match(r"^\$([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)$", token)
        if match:
            keys = tuple(k for k in match.group(2).split(".") if k)
            return self._relative(self.variables.get(match.group(1)), keys)
        match = re.match(r"^(\$?)\.((?:[A-Za-z_]\w*)(?:\.[A-Za-z_]\w*)*)?$", token)
        if match:
            keys = tuple(match.group(2).split(".")) if match.group(2) else ()
            return self._relative(self.root if match.group(1) else self.scopes[-1], keys)
        return None

    def _group(self, token):
        """The value of a parenthesised token, with accessors after it: (index .Values "a").b -> ("a", "b")."""
        depth = 0
        for i, ch in enumerate(token):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                break
        value = self.pipeline(token[1:i])
        suffix = token[i + 1:]
        if isinstance(value, dict):
            return None if suffix else value
        if value is not None and re.match(r"^(?:\.[A-Za-z_]\w*)+$", suffix):
            value = value + tuple(suffix[1:].split("."))
            self.reads.append((value, False))
        elif suffix:
            value = None
        return value

    def _dict_argument(self, token):
        """{key: path} of a (dict "k" .Values.x ...) token, or None."""
        if not token.startswith("(dict ") or not token.endswith(")"):
            return None
        tokens = _split_top(token[6:-1], " ")
        mapping = {}
        for key, value in zip(tokens[::2], tokens[1::2]):
            if key[:1] == '"':
                mapping[key[1:-1]] = self.ref(value) if not value.startswith("(") else self.pipeline(value[1:-1])
        return mapping

    def _follow(self, name, dot):
        """Walk a named template with the given dot; False when it cannot be followed."""
        key = (name, repr(dot))
        if name not in self.defines or self.depth >= 4:
            return False
        if key in self.seen:
            return True
        self.seen.add(key)
        walker = _Reads(self.defines, dot, self.depth + 1, self.seen)
        for inner in self.defines[name]:
            walker.action(inner)
        self.reads.extend(walker.reads)
        return True

    def pipeline(self, text, whole_result=False):
        """Record the .Values reads of a pipeline; the path its value is when it is one (else None)."""
        stages = _split_top(text, "|")
        value = None
        for i, stage in enumerate(stages):
            tokens = _split_top(stage, " ")
            if not tokens:
                continue
            command = tokens[0]
            following = _split_top(stages[i + 1], " ")[0] if i + 1 < len(stages) else None
            flows_on = following in WHOLE_FUNCS or (following is None and whole_result)
            stage_value = None
            if command in ("include", "template") and len(tokens) > 2 and tokens[1][:1] == '"':
                argument = self._dict_argument(tokens[2])
                if argument is None:
                    argument = self.ref(tokens[2]) if not tokens[2].startswith("(") else self._group(tokens[2])
                if isinstance(argument, dict) and not any(argument.values()):
                    argument = None
                if argument is not None and self._follow(tokens[1][1:-1], argument):
                    value = None
                    continue
            if command == "pick" and len(tokens) > 1:
                base = self.ref(tokens[1]) if not tokens[1].startswith("(") else self._group(tokens[1])
                keys = [t[1:-1] for t in tokens[2:] if t[:1] == '"' and t[-1:] == '"']
                if base is not None and isinstance(base, tuple):
                    for key in keys:
                        self.reads.append((base + (key,), flows_on))
                    # what pick returns: a dict of those keys, as a named template's dot
                    value = {key: base + (key,) for key in keys}
                else:
                    value = None
                continue
            if command in ("index", "hasKey", "get") and len(tokens) > 1:
                base = self.ref(tokens[1]) if not tokens[1].startswith("(") else self._group(tokens[1])
                keys = [t[1:-1] for t in tokens[2:] if t[:1] == '"' and t[-1:] == '"']
                if base is not None:
                    if len(keys) == len(tokens) - 2:
                        stage_value = base + tuple(keys)
                        self.reads.append((stage_value, command != "hasKey" and flows_on))
                    else:
                        self.reads.append((base, True))  # keys from variables: any key may be read
                for token in tokens[2:]:
                    if token.startswith("("):
                        self._group(token)
                value = stage_value
                continue
            for j, token in enumerate(tokens):
                if token.startswith("("):
                    inner = self._group(token)
                    if isinstance(inner, dict):
                        inner = None
                    if inner is not None:
                        self.reads.append((inner, (j > 0 and command in WHOLE_FUNCS)
                                           or ((j == 0 or command in PASS_FUNCS) and flows_on)))
                    if j == 0 or command in PASS_FUNCS:
                        stage_value = stage_value or inner
                    continue
                path = self.ref(token)
                if path is None:
                    continue
                if j == 0:
                    whole = flows_on
                    stage_value = path
                elif command in WHOLE_FUNCS:
                    whole = True
                elif command in PASS_FUNCS:
                    whole = flows_on
                    stage_value = stage_value or path
                else:
                    whole = False
                self.reads.append((path, whole))
            value = stage_value if (i == 0 or (command in PASS_FUNCS)) else None
        return value

    def action(self, inner):
        keyword = inner.split(None, 1)[0] if inner else ""
        rest = inner[len(keyword):].strip()
        if keyword == "end":
            if len(self.scopes) > 1:
                self.scopes.pop()
            return
        if keyword == "else":
            if rest.startswith("if "):
                self.pipeline(rest[3:])
            elif rest.startswith("with "):
                self.scopes[-1] = self.pipeline(rest[5:])
            return
        if keyword in ("define", "block"):
            self.scopes.append(None)
            return
        if keyword in ("with", "range", "if"):
            declared = re.match(r"^(\$\w+)(?:\s*,\s*(\$\w+))?\s*:=\s*(.*)$", rest, re.S)
            body = declared.group(3) if declared else rest
            # range hands out every entry (a free-form map's keys); with only moves the dot, whose reads are followed
            target = self.pipeline(body, whole_result=keyword == "range")
            if declared:
                for name in filter(None, declared.group(1, 2)):
                    self.variables[name[1:]] = None  # a key or an element: unknown
            if keyword == "with":
                self.scopes.append(target)
            elif keyword == "range":
                self.scopes.append(None)
            else:
                self.scopes.append(self.scopes[-1])
            return
        assignment = re.match(r"^\$(\w+)\s*:?=\s*(.*)$", inner, re.S)
        if assignment:
            self.variables[assignment.group(1)] = self.pipeline(assignment.group(2))
            return
        self.pipeline(inner)


def template_reads(texts):
    """Every .Values read in the templates: a list of (keys, passed_on_whole). Reads of .Values as a whole (a chart
    handing all its values to a helper) say nothing about any one path and are left out."""
    texts = list(texts)
    defines = _defines(texts)
    reads = []
    for text in texts:
        # named templates are walked where they are defined (their .Values reads) and again where they are included
        # with a part of .Values as their dot (their relative reads)
        walker = _Reads(defines)
        for inner in _actions(text):
            walker.action(inner)
        reads.extend(walker.reads)
    return [(keys, whole) for keys, whole in reads if keys]


def leaf_paths(values, prefix=()):
    """Every leaf path (tuple of keys) of a values mapping; lists and scalars are leaves, empty maps too."""
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaf_paths(value, prefix + (str(key),))
    elif prefix:
        yield prefix


def count_paths(values):
    return sum(1 for _path in leaf_paths(values))


def defined(values, path):
    node = values
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def read_by_templates(source, path):
    for keys, whole in source.reads():
        n = len(keys)
        if keys == path[:n] and (n == len(path) or whole):
            return True
        if len(path) < n and keys[:len(path)] == path:
            return True  # a template reads deeper below this path
    return False


def _resolve(schema, root):
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
        node = root
        for part in schema["$ref"][2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        schema = node
    return schema


def schema_allows(schema, path, root=None):
    """The schema names this path (properties along it) or explicitly allows any key at a parent."""
    if not isinstance(schema, dict):
        return False
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    if not path:
        return True
    for combinator in ("allOf", "anyOf", "oneOf"):
        if any(schema_allows(s, path, root) for s in schema.get(combinator) or []):
            return True
    key, rest = path[0], path[1:]
    properties = schema.get("properties") or {}
    if key in properties:
        return schema_allows(properties[key], rest, root)
    for pattern, sub in (schema.get("patternProperties") or {}).items():
        if re.search(pattern, key):
            return True
    additional = schema.get("additionalProperties")
    return additional is True or isinstance(additional, dict)


def path_is_read(source, path):
    """Whether the chart (or one of its subcharts) reads this value path."""
    if defined(source.values, path) or read_by_templates(source, path) or schema_allows(source.schema, path):
        return True
    if path and path[0] in source.subcharts and len(path) > 1:
        if path_is_read(source.subcharts[path[0]], path[1:]):
            return True
    if path and path[0] == "global":
        return any(path_is_read(sub, path) for sub in source.subcharts.values())
    return False


def unread_paths(values, source):
    """Problems, one per value path the chart does not read, naming the path."""
    problems = []
    for path in leaf_paths(values):
        if not path_is_read(source, path):
            problems.append("value %s is not read by chart %s: not in its values.yaml (nor a subchart's), no template "
                            "reads .Values.%s or passes a parent on whole, and values.schema.json does not allow it"
                            % (".".join(path), source.name, ".".join(path)))
    return problems
