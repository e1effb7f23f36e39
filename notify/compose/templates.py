"""Finding, loading and compiling message templates (sandboxed, strict).

A template is one file per kind and language, ``NAME.LANG.j2`` (for example
``colleague-warning.fr.j2``), holding Jinja blocks: ``subject`` and ``text``
(required) and ``html`` (optional). Text outside the blocks is ignored.

Search order for a name: the ``search_dirs`` given, else ``./templates`` (the current
directory), then the built-in templates. The first directory holding any language of
that name provides all of its languages: a user's own template replaces the
built-in of the same name as a whole.

Templates run in Jinja's ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``:
an undefined variable, an unset (``None``) value, or an unsafe attribute
(``''.__class__``) is a :class:`~notify.errors.TemplateError`, never a blank.
The ``html`` block is compiled a second time with auto-escaping on.

Rendering is bounded, for templates from an untrusted folder: ``*``, ``**`` and ``+``
refuse results over :data:`MAX_TEXT` characters, :data:`MAX_ITEMS` items or
:data:`MAX_INT_BITS` bits; ``~``, ``{% set %}`` blocks and calls refuse strings over
:data:`MAX_TEXT`; and under :class:`RenderBudget` every loop iteration and call counts
towards a look at the clock every :data:`CHECK_EVERY` of them. Going over a limit raises
:class:`RenderLimit` (``notify.compose.render`` makes it a TemplateError).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import jinja2.runtime
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

import notify
from notify.addressbook.model import Recipient
from notify.compose.variables import QuotedMessage, format_when
from notify.errors import TemplateError
from notify.settings import IncidentSettings, SenderSettings

TEMPLATE_SUFFIX = ".j2"
_FILE_NAME = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.(?P<lang>[a-z]{2})\.j2")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_HTML_SUFFIX = "#html"
BLOCKS = ("subject", "text", "html")


def builtin_templates_dir() -> Path:
    """Return the folder of the built-in templates.

    Installed from a wheel they are ``notify/_templates``; in an editable install
    (a checkout) they are the repository's ``templates/``.
    """
    package = Path(notify.__file__).resolve().parent
    shipped = package / "_templates"
    if shipped.is_dir():
        return shipped
    return package.parent / "templates"


def default_search_dirs() -> list[Path]:
    """Return ``./templates`` (current directory) then the built-in folder."""
    return [Path.cwd() / "templates", builtin_templates_dir()]


def _autoescape(name: str | None) -> bool:
    return bool(name and name.endswith(_HTML_SUFFIX))


def _finalize(value: Any) -> Any:
    if value is None:
        raise jinja2.UndefinedError("a value printed by the template is not set (None)")
    return value


def _required(value: Any, what: str = "this value") -> Any:
    """Filter: the value, or an error when it is empty (a blank must never be sent)."""
    if value is None or isinstance(value, jinja2.Undefined) or str(value).strip() == "":
        raise jinja2.UndefinedError(f"{what} is empty")
    return value


@jinja2.pass_context
def _when(context: jinja2.runtime.Context, value: Any) -> str:
    """Filter: a datetime written in the message's language."""
    if not isinstance(value, datetime):
        raise jinja2.UndefinedError("the 'when' filter needs a date and time")
    return format_when(value, str(context.get("language", "fr")))


# -- limits on rendering ------------------------------------------------------------------

MAX_TEXT = 1_000_000  # characters in one string built by a template, or one block
MAX_ITEMS = 100_000  # items in a list or tuple built with * or +
MAX_INT_BITS = 100_000  # bits in an integer built with * or ** (about 30,000 digits)
RENDER_SECONDS = 2.0  # to render every block of one message
CHECK_EVERY = 1_000  # loop iterations and calls between two looks at the clock
_LOOP_FILTER = "_notify_loop"
_SIZE_FILTER = "_notify_sized"


class RenderLimit(Exception):
    """A template went over a rendering limit: ``slow`` (time) or not (size)."""

    def __init__(self, message: str, *, slow: bool = False) -> None:
        super().__init__(message)
        self.slow = slow


class RenderBudget:
    """The time allowed to render one message, for the hooks of the current context.

    ``with RenderBudget():`` sets it (thread- and task-local); outside one, templates
    have no time limit, only the size limits.
    """

    __slots__ = ("_token", "deadline", "seconds", "ticks")

    def __init__(self, seconds: float = RENDER_SECONDS) -> None:
        self.seconds = seconds
        self.deadline = 0.0
        self.ticks = 0
        self._token: Token[RenderBudget | None] | None = None

    def __enter__(self) -> RenderBudget:
        self.deadline = time.monotonic() + self.seconds
        self._token = _BUDGET.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _BUDGET.reset(self._token)
            self._token = None

    def check(self) -> None:
        """Raise RenderLimit once the deadline has passed (resets the tick count)."""
        self.ticks = 0
        if time.monotonic() > self.deadline:
            raise RenderLimit(
                f"too slow: rendering took more than {self.seconds:g} s "
                "(a loop or a macro that runs too long)",
                slow=True,
            )


_BUDGET: ContextVar[RenderBudget | None] = ContextVar("notify_render_budget", default=None)


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.ticks += 1
        if budget.ticks >= CHECK_EVERY:
            budget.check()


def _loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """Filter wrapped around every ``for`` loop's iterable: its iterations count.

    Always a generator, so the optimiser never folds it away on a literal list.
    """
    budget = _BUDGET.get()
    for item in iterable:
        if budget is not None:
            budget.ticks += 1
            if budget.ticks >= CHECK_EVERY:
                budget.check()
        yield item


def _too_large(what: str, size: int, limit: int, unit: str) -> RenderLimit:
    return RenderLimit(f"produces too much: {what} of {size:,} {unit} (limit {limit:,})")


def _sized(value: Any) -> Any:
    """Filter on ``~`` and ``{% set %}`` blocks: a string over MAX_TEXT is refused."""
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise _too_large("a text", len(value), MAX_TEXT, "characters")
    return value


def _check_size(what: str, value: Any, size: int) -> None:
    if isinstance(value, (str, bytes)):
        if size > MAX_TEXT:
            raise _too_large(what, size, MAX_TEXT, "characters")
    elif isinstance(value, (list, tuple)) and size > MAX_ITEMS:
        raise _too_large(what, size, MAX_ITEMS, "items")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``*``, ``**`` or ``+`` whose result would be too large, before computing it."""
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() + right.bit_length()
            if bits > MAX_INT_BITS:
                raise _too_large("a product", bits, MAX_INT_BITS, "bits")
        elif isinstance(right, int) and hasattr(left, "__len__"):
            _check_size("a repeated value", left, len(left) * right)
        elif isinstance(left, int) and hasattr(right, "__len__"):
            _check_size("a repeated value", right, len(right) * left)
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            bits = left.bit_length() * right
            if bits > MAX_INT_BITS:
                raise _too_large("a power", bits, MAX_INT_BITS, "bits")
    elif isinstance(left, (str, bytes, list, tuple)) and hasattr(right, "__len__"):
        _check_size("a sum", left, len(left) + len(right))


def _node_with(node: nodes.Node | None, name: str, lineno: int) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=lineno)


class _Limiter(NodeTransformer):
    """Wrap loops in the counting filter, ``~`` and set blocks in the size filter."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _node_with(node.iter, _LOOP_FILTER, node.iter.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _node_with(node, _SIZE_FILTER, node.lineno)

    def visit_AssignBlock(self, node: nodes.AssignBlock) -> nodes.Node:
        self.generic_visit(node)
        node.filter = _node_with(node.filter, _SIZE_FILTER, node.lineno)
        return node


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with its attribute check memoised.

    Jinja's check depends only on the attribute name and the type of the object
    (``is_internal_attribute``, ``modifies_known_mutable``), so caching it per
    ``(type, name)`` gives the same answers several times faster.

    ``*``, ``**`` and ``+`` are checked for size first; a call counts towards the
    render budget and may not return a string over MAX_TEXT.
    """

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._safe: dict[tuple[type, str], bool] = {}
        self._fields: dict[type, frozenset[str]] = {}

    def allow_fields(self, cls: type, fields: frozenset[str]) -> None:
        """Let templates read these plain data fields of ``cls`` without the full check."""
        self._fields[cls] = frozenset(f for f in fields if not f.startswith("_"))

    def getattr(self, obj: Any, attribute: str) -> Any:
        fields = self._fields.get(type(obj))
        if fields is not None and attribute in fields:
            return getattr(obj, attribute)
        return super().getattr(obj, attribute)

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context: jinja2.runtime.Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _tick()
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, str) and len(result) > MAX_TEXT:
            raise _too_large("a call's result", len(result), MAX_TEXT, "characters")
        return result

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        key = (type(obj), attr)
        safe = self._safe.get(key)
        if safe is None:
            safe = super().is_safe_attribute(obj, attr, value)
            if len(self._safe) < 10_000:
                self._safe[key] = safe
        return safe


def make_environment() -> _Sandbox:
    """Return the sandboxed, strict environment every template is compiled in."""
    env = _Sandbox(
        undefined=jinja2.StrictUndefined,
        autoescape=_autoescape,
        finalize=_finalize,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    # Same inputs, same bytes: nothing random in a message.
    env.globals.pop("lipsum", None)
    env.filters.pop("random", None)
    env.filters["required"] = _required
    env.filters["when"] = _when
    env.filters[_LOOP_FILTER] = _loop
    env.filters[_SIZE_FILTER] = _sized
    return env


_ENV = make_environment()
_ENV.allow_fields(Recipient, frozenset(f.name for f in dataclasses.fields(Recipient)))
_ENV.allow_fields(QuotedMessage, frozenset(("subject", "date")))
_ENV.allow_fields(IncidentSettings, frozenset(IncidentSettings.model_fields))
_ENV.allow_fields(SenderSettings, frozenset(SenderSettings.model_fields))


#: Context variables whose value depends on the recipient (see notify.compose.variables).
PER_RECIPIENT = frozenset(
    {"recipient", "salutation", "patient_salutation", "same_profession", "window_messages"}
)


@dataclass(frozen=True, slots=True)
class Reads:
    """What a template reads that depends on the recipient: the key of its render cache.

    ``cacheable`` is false when ``recipient`` is used other than as ``recipient.field``
    (passed to a filter, indexed, assigned): the output could then depend on anything.
    """

    names: tuple[str, ...]
    recipient_fields: tuple[str, ...]
    cacheable: bool


def reads_of(source: str) -> Reads:
    """Find what ``source`` reads per recipient (static analysis of the Jinja AST)."""
    return _reads_in(_ENV.parse(source))


def _reads_in(ast: nodes.Template) -> Reads:
    """:func:`reads_of` on a template already parsed (and not yet compiled)."""
    loads = [n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"]
    fields = [
        g.attr
        for g in ast.find_all(nodes.Getattr)
        if isinstance(g.node, nodes.Name) and g.node.name == "recipient"
    ]
    stored = {n.name for n in ast.find_all(nodes.Name) if n.ctx != "load"}
    cacheable = loads.count("recipient") == len(fields) and not stored & PER_RECIPIENT
    names = tuple(sorted(set(loads) & (PER_RECIPIENT - {"recipient"})))
    return Reads(names, tuple(sorted(set(fields))), cacheable)


@dataclass(frozen=True, slots=True)
class LanguageTemplate:
    """One template file: one kind in one language, compiled twice (plain and HTML)."""

    name: str
    language: str
    path: Path
    source: str
    plain: jinja2.Template  # renders the subject and text blocks
    html: jinja2.Template | None  # renders the html block, auto-escaped
    reads: Reads

    @property
    def label(self) -> str:
        """How errors name this template: its file name."""
        return self.path.name


@dataclass(frozen=True, slots=True)
class TemplateSet:
    """Every language of one kind of message, from one folder (or one file)."""

    name: str
    folder: Path
    templates: dict[str, LanguageTemplate] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        """The languages available, sorted."""
        return sorted(self.templates)

    def pick(self, wanted: str, default: str = "fr") -> LanguageTemplate:
        """Return the template in ``wanted``, else ``default``, else French, else any."""
        for language in (wanted, default, "fr"):
            if language in self.templates:
                return self.templates[language]
        return self.templates[self.languages[0]]


def parse_file_name(path: Path) -> tuple[str, str]:
    """Return ``(name, language)`` from ``NAME.LANG.j2``, or raise TemplateError."""
    match = _FILE_NAME.fullmatch(path.name)
    if not match:
        raise TemplateError(
            f"{path.name!r} is not a template file name",
            template=str(path),
            hint="Name it NAME.LANG.j2 with a two-letter language, e.g. my-warning.fr.j2.",
        )
    return match["name"], match["lang"]


def read_source(path: Path) -> str:
    """Read a template file as UTF-8 (a BOM is ignored)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TemplateError(
            "no such file", template=str(path), hint="Check the path, or run 'notify templates'."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(
            f"cannot be read: {exc}", template=str(path), hint="Save it as UTF-8 text."
        ) from None


def compile_source(source: str, path: Path) -> tuple[jinja2.Template, jinja2.Template | None]:
    """Compile ``source`` twice: plain (subject, text) and auto-escaped (html)."""
    plain, html, _ = _compile_twice(source, path)
    return plain, html


def _compile_twice(
    source: str, path: Path
) -> tuple[jinja2.Template, jinja2.Template | None, Reads]:
    """:func:`compile_source`, and :func:`reads_of` from the plain compilation's parse."""
    try:
        tree = _ENV.parse(source, name=path.name, filename=str(path))
        reads = _reads_in(tree)  # before compiling: that changes the tree
        plain = _compile_tree(tree, path.name, path)
        # Compiling changes the tree (loops wrapped, constants folded for one
        # escaping mode): the html compilation parses again.
        html = _compile(source, path.name + _HTML_SUFFIX, path)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"syntax error: {exc.message}",
            template=path.name,
            line=exc.lineno,
            hint="Fix the Jinja syntax at that line ({{ variable }}, {% if %}...{% endif %}).",
        ) from None
    for block in ("subject", "text"):
        if block not in plain.blocks:
            raise TemplateError(
                f"the {block!r} block is missing",
                template=path.name,
                hint=f"Add {{% block {block} %}}...{{% endblock %}} to the file.",
            )
    return plain, (html if "html" in html.blocks else None), reads


def _compile(source: str, name: str, path: Path) -> jinja2.Template:
    return _compile_tree(_ENV.parse(source, name=name, filename=str(path)), name, path)


def _compile_tree(parsed: nodes.Template, name: str, path: Path) -> jinja2.Template:
    tree = _Limiter().visit(parsed)
    tree.set_environment(_ENV)
    code = _ENV.compile(tree, name=name, filename=str(path))
    return _ENV.template_class.from_code(_ENV, code, _ENV.make_globals(None), None)


def load_file(path: Path) -> LanguageTemplate:
    """Load and compile one template file named ``NAME.LANG.j2``."""
    name, language = parse_file_name(path)
    source = read_source(path)
    plain, html, reads = _compile_twice(source, path)
    return LanguageTemplate(name, language, path, source, plain, html, reads)


def _files_named(folder: Path, name: str) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.glob(f"{name}.*{TEMPLATE_SUFFIX}") if _FILE_NAME.fullmatch(p.name)
    )


def load_template(
    name_or_path: str | Path, *, search_dirs: list[Path] | None = None
) -> TemplateSet:
    """Return every language of one template, by name or by path.

    A path (``my-warning.fr.j2``, or anything with a folder) loads that one file.
    A name is looked up in ``search_dirs`` (default: ``./templates`` then the
    built-ins); the first folder holding it provides all of its languages.
    """
    text = str(name_or_path)
    if text.endswith(TEMPLATE_SUFFIX) or "/" in text or "\\" in text:
        single = load_file(Path(text))
        return TemplateSet(single.name, single.path.parent, {single.language: single})
    if not _NAME.fullmatch(text):
        raise TemplateError(
            f"{text!r} is not a template name",
            hint="Use a name listed by 'notify templates', or the path of a .j2 file.",
        )
    dirs = default_search_dirs() if search_dirs is None else search_dirs
    for folder in dirs:
        files = _files_named(folder, text)
        if files:
            loaded = [load_file(p) for p in files]
            return TemplateSet(text, folder, {t.language: t for t in loaded})
    raise TemplateError(
        f"no template named {text!r}",
        hint="Run 'notify templates' for the list, or give the path of your own .j2 file.",
    )


def iter_template_names(search_dirs: list[Path] | None = None) -> Iterator[tuple[str, Path]]:
    """Yield ``(name, folder)`` for each template name, the first folder winning."""
    seen: set[str] = set()
    for folder in default_search_dirs() if search_dirs is None else search_dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"*{TEMPLATE_SUFFIX}")):
            match = _FILE_NAME.fullmatch(path.name)
            if match and match["name"] not in seen:
                seen.add(match["name"])
                yield match["name"], folder


def variables_used(source: str) -> set[str]:
    """Return the variables a template reads: ``salutation``, ``recipient.name``...

    Attribute reads on a top-level name are given dotted (one level deep).
    """
    ast = _ENV.parse(source)
    found: set[str] = set()
    assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for node in ast.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name not in assigned:
            found.add(f"{node.node.name}.{node.attr}")
    for name_node in ast.find_all(nodes.Name):
        if name_node.ctx == "load" and name_node.name not in assigned:
            found.add(name_node.name)
    return found


def error_line(exc: BaseException, template: jinja2.Template) -> int | None:
    """Return the template line an exception was raised from, when it can be found."""
    filename = template.filename
    tb: TracebackType | None = exc.__traceback__
    line: int | None = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """What ``notify templates`` lists: a name, its languages, the variables it reads."""

    name: str
    languages: list[str]
    variables: list[str]
    folder: Path
    builtin: bool


def list_templates(search_dirs: list[Path] | None = None) -> list[TemplateInfo]:
    """Return every template reachable by name (user folders first, then built-ins)."""
    builtin = builtin_templates_dir().resolve()
    infos = []
    for name, folder in iter_template_names(search_dirs):
        template_set = load_template(name, search_dirs=[folder])
        used: set[str] = set()
        for template in template_set.templates.values():
            used |= variables_used(template.source)
        parents = {v.split(".", 1)[0] for v in used if "." in v}
        variables = sorted(v for v in used if v not in parents)
        infos.append(
            TemplateInfo(
                name, template_set.languages, variables, folder, folder.resolve() == builtin
            )
        )
    return infos
