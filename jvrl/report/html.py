"""The report as one self-contained HTML page.

Images are embedded as base64 `data:` URIs, styles are inline, and the page
links only to its own sections: it opens offline, from anywhere, in any
browser, and can be mailed as one file.
"""
import base64
import dataclasses
import html
from typing import Sequence

from jvrl.report import figures

_STYLE = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc;
     padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f2f2f2; }
img { max-width: 100%; height: auto; display: block; margin: .6em 0; }
pre { background: #f7f7f7; padding: .8em; overflow: auto; font-size: .8em;
      max-height: 30em; }
p.note { color: #555; font-size: .9em; }
p.problem { color: #b2182b; }
nav a { margin-right: 1em; }
"""


@dataclasses.dataclass(frozen=True)
class Section:
  """One section of the page: an anchor id, a title and its HTML body."""
  anchor: str
  title: str
  body: str


def escape(text: str) -> str:
  return html.escape(str(text), quote=True)


def paragraph(text: str, css_class: str = "note") -> str:
  return f'<p class="{css_class}">{escape(text)}</p>'


def preformatted(text: str) -> str:
  return f"<pre>{escape(text)}</pre>"


def image(png: figures.Png, alt: str) -> str:
  """An <img> holding `png` itself, with its size in pixels."""
  data = base64.b64encode(png.data).decode("ascii")
  return (f'<img alt="{escape(alt)}" width="{png.width}" height="{png.height}" '
          f'src="data:image/png;base64,{data}">')


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
  body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
                 for row in rows)
  return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
  """The whole page: title, a table of contents, then the sections in order."""
  contents = " ".join(f'<a href="#{escape(s.anchor)}">{escape(s.title)}</a>' for s in sections)
  parts = [f'<section id="{escape(s.anchor)}"><h2>{escape(s.title)}</h2>\n{s.body}\n</section>'
           for s in sections]
  return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>\n"
          f"<h1>{escape(title)}</h1>\n{paragraph(subtitle)}\n<nav>{contents}</nav>\n"
          + "\n".join(parts) + "\n</body></html>\n")
