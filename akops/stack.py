"""Rendering the stack: templates + an environment → manifest texts.

Rule: pure. Reads templates through a Jinja loader and returns texts keyed by output
file name; writes nothing. Same input, same bytes: no clocks, no randomness, sorted
iteration. Secrets are rendered as placeholders (see ``akops.secrets``).

Templates named ``*.yaml.j2`` become manifests (``pgbouncer/deployment.yaml.j2`` →
``pgbouncer-deployment.yaml``); any other ``*.j2`` is a fragment (``pgbouncer.ini``)
rendered first and handed to the manifests as ``files[...]``. A manifest that renders
empty (an optional part the environment does not use) is no file at all.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import jinja2

from akops import names
from akops.environment import Environment
from akops.errors import SecretError, TemplateRenderError
from akops.quantities import parse_quantity
from akops.secrets import placeholder


@dataclass(frozen=True)
class RenderedFile:
    name: str
    template: str
    text: str


@dataclass(frozen=True)
class RenderedStack:
    env: str
    files: tuple[RenderedFile, ...]

    def by_name(self) -> dict[str, str]:
        return {f.name: f.text for f in self.files}


def output_name(template: str) -> str:
    """``pgbouncer/deployment.yaml.j2`` → ``pgbouncer-deployment.yaml``."""
    return template.removesuffix(".j2").replace("/", "-")


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def labels(component: str) -> str:
    """The labels every object of ours carries (``akops.names.ours``), as YAML lines."""
    return "\n".join(f"{k}: {v}" for k, v in names.ours(component).items())


def as_bytes(quantity: str) -> int:
    """A Kubernetes quantity (``2Gi``) as a whole number, for PromQL (templates: ``| bytes``)."""
    value = parse_quantity(quantity)
    if value is None:
        raise TemplateRenderError(f"not a Kubernetes quantity: {quantity!r}")
    return int(value)


def _template_line(tb: TracebackType | None) -> tuple[str, int] | None:
    # Jinja rewrites tracebacks so template frames carry the template's file and line.
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


class _Renderer:
    def __init__(
        self, env: Environment, templates: Path, cache: jinja2.BytecodeCache | None = None
    ) -> None:
        self.env = env
        self.templates = templates
        self.jinja = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)),
            bytecode_cache=cache,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
        )
        self.jinja.globals.update(
            env=env, labels=labels, names=names, checksum=checksum, secret=self._secret
        )
        self.jinja.filters["bytes"] = as_bytes

    def _secret(self, name: str, encoding: str | None = None) -> str:
        if name not in self.env.secrets:
            raise TemplateRenderError(
                f"secret {name!r} is used by a template but not defined under 'secrets:' "
                f"in environment {self.env.name!r}"
            )
        try:
            return placeholder(name, encoding)
        except SecretError as e:
            raise TemplateRenderError(str(e)) from e

    def _where(self, name: str, e: BaseException) -> str:
        found = _template_line(e.__traceback__)
        rel = f"templates/{name}"
        return f"{rel}:{found[1]}" if found else rel

    def render(self, name: str, **context: object) -> str:
        try:
            return self.jinja.get_template(name).render(**context)
        except jinja2.TemplateSyntaxError as e:
            rel = f"templates/{e.name or name}"
            raise TemplateRenderError(
                f"{rel}:{e.lineno}: template syntax error: {e.message}"
            ) from e
        except jinja2.UndefinedError as e:
            raise TemplateRenderError(
                f"{self._where(name, e)}: undefined variable: {e.message}"
            ) from e
        except TemplateRenderError:
            raise
        except jinja2.TemplateError as e:
            raise TemplateRenderError(f"{self._where(name, e)}: {e}") from e
        except UnicodeDecodeError as e:
            raise TemplateRenderError(f"templates/{name}: not UTF-8 text") from e
        except OSError as e:
            raise TemplateRenderError(f"templates/{name}: cannot read: {e.strerror}") from e
        except Exception as e:
            # Template code is code: 1/0, a method on None, a bad filter argument. The
            # operator gets the template line, not Jinja's traceback.
            raise TemplateRenderError(
                f"{self._where(name, e)}: template error: {type(e).__name__}: {e}"
            ) from e


def template_names(templates: Path) -> list[str]:
    """Every ``*.j2`` below ``templates`` as a posix relative path, sorted."""
    return sorted(p.relative_to(templates).as_posix() for p in templates.rglob("*.j2"))


def header(template: str, env: str) -> str:
    return (
        f"# generated from templates/{template} for environment {env} by `invoke render`; "
        "do not edit\n"
    )


_HEADER = re.compile(
    r"^# generated from templates/\S+ for environment (?P<env>[a-z0-9-]+) by ", re.M
)


def environment_named_in(head: str) -> str | None:
    """The environment a rendered file's ``header`` names (in the first lines), or None."""
    m = _HEADER.search(head)
    return m.group("env") if m else None


#: The Jinja options every render uses: part of a bytecode cache's name, because Jinja keys
#: compiled templates by name and source only, not by the options they were compiled with.
JINJA_OPTIONS = "strict-keepnl-trim-lstrip-v1"


def render_stack(
    env: Environment, templates: Path, cache: jinja2.BytecodeCache | None = None
) -> RenderedStack:
    """Render every manifest template for ``env``; ``cache`` keeps compiled templates between
    runs (the caller's, an I/O edge, gives one: see ``akops.render``)."""
    names = template_names(templates)
    if not names:
        raise TemplateRenderError(f"{templates}: no templates (*.j2) found")
    renderer = _Renderer(env, templates, cache)
    fragments = {
        Path(n).name.removesuffix(".j2"): renderer.render(n)
        for n in names
        if not n.endswith(".yaml.j2")
    }
    out = []
    for name in names:
        if not name.endswith(".yaml.j2"):
            continue
        body = renderer.render(name, files=fragments)
        if not body.strip():
            continue  # a template that renders nothing for this environment (a waived object)
        out.append(RenderedFile(output_name(name), name, header(name, env.name) + body))
    return RenderedStack(env.name, tuple(out))
