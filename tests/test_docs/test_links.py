"""The documentation's links and named paths resolve inside the repository.

Checked Markdown: ``README.md``, every ``*.md`` under ``docs/`` and every
``configs/**/README.md``.

- Every relative link (``[text](target)``, ``![alt](target)``, reference
  definitions ``[id]: target``) outside code points to an existing file or
  folder, relative to the Markdown file; a ``#anchor`` into a Markdown file
  must name one of its headings (GitHub's heading ids).
- Every ``configs/...`` or ``tools/...`` path written in backticks or in a
  code block exists, and so does every ``python -m tools.<module>``. A path
  may use the placeholders of :data:`PLACEHOLDERS` (``<dataset>`` ...),
  ``*`` and ``{a,b}``: it must then match at least one existing path; a path
  ending in ``...`` names the folder before it.
"""
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterator, List, Tuple
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]

#: The placeholders the docs use in paths, each standing for one path part
#: (``<dataset>``: a dataset folder such as ``digits_lt``). A path with a
#: placeholder must match at least one existing path.
PLACEHOLDERS = ('<dataset>', '<method>', '<tag>', '<step>', '<task>', '<job>',
                '<S>')
#: Paths that were deleted, which the history pages under docs/benchmarks/
#: still name with the commit that has them (the commit is named on the
#: page); nowhere else may they appear.
RETIRED = {
    'tools/benchmark/cifar10_lt_accuracy.py': 'c98cea9',
    'configs/benchmarks/cifar10_lt/': 'c98cea9',
    'configs/benchmarks/cifar10_lt/_bench.py': 'c98cea9',
    'tools/benchmark/osdtw_speed.py': 'faeb631',
}
HISTORY_PAGES = 'docs/benchmarks/'

FENCE = re.compile(r'^\s*(```|~~~)')
INLINE_CODE = re.compile(r'(`+)(.+?)\1')
LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?'
                  r'(?:\s+(?:"[^"]*"|\'[^\']*\'))?\s*\)')
REF_DEF = re.compile(r'^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)')
HEADING = re.compile(r'^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$')
HTML_ID = re.compile(r'<a\s+(?:name|id)="([^"]+)"', re.I)
SCHEME = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:')
REPO_PATH = re.compile(r'(?<![\w./~$-])((?:configs|tools)/'
                       r'(?:\{[^{}\s]*\}|[^\s`\'"()\[\],;|\\{}])*)')
MODULE = re.compile(r'-m\s+(tools(?:\.\w+)+)')


def markdown_files() -> List[Path]:
    """The Markdown files whose links and paths are checked."""
    files = [REPO / 'README.md']
    files += sorted((REPO / 'docs').rglob('*.md'))
    files += sorted((REPO / 'configs').rglob('README.md'))
    return [f for f in files if f.is_file()]


def split_code(text: str) -> Tuple[List[Tuple[int, str]], List[str]]:
    """``(prose lines with their numbers, code block lines)``."""
    prose, code, fence = [], [], None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if match and (fence is None or match.group(1) == fence):
            fence = match.group(1) if fence is None else None
            continue
        (code if fence else prose).append(line if fence else (number, line))
    return prose, code


def slug(heading: str) -> str:
    """GitHub's id of a heading: its text lower-cased, without punctuation
    (letters, digits, ``_`` and ``-`` stay), spaces turned into ``-``."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # link text
    text = re.sub(r'<[^>]+>', '', text)  # inline HTML
    text = re.sub(r'[^\w\- ]', '', text.strip().lower())
    return text.replace(' ', '-')


@lru_cache(maxsize=None)
def anchors(path: Path) -> frozenset:
    """The heading ids (and HTML anchors) of a Markdown file."""
    prose, _ = split_code(path.read_text(encoding='utf-8'))
    seen, ids = {}, set()
    for _, line in prose:
        ids.update(HTML_ID.findall(line))
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        ids.add(base if count == 0 else f'{base}-{count}')
    return frozenset(ids)


def links(path: Path) -> Iterator[Tuple[int, str]]:
    """``(line number, target)`` of every link outside code."""
    prose, _ = split_code(path.read_text(encoding='utf-8'))
    for number, line in prose:
        line = INLINE_CODE.sub('', line)
        for target in LINK.findall(line):
            yield number, target
        match = REF_DEF.match(line)
        if match:
            yield number, match.group(1)


def link_problem(md: Path, target: str) -> str:
    """Why ``target`` (a link in ``md``) does not resolve, or ``''``."""
    if not target or SCHEME.match(target) or target.startswith('//'):
        return ''
    path_part, _, anchor = target.partition('#')
    dest = (md.parent / unquote(path_part)).resolve() if path_part else md
    try:
        dest.relative_to(REPO)
    except ValueError:
        return f'{target!r} leaves the repository'
    if not dest.exists():
        return f'{target!r}: no such file or folder'
    if anchor and dest.suffix == '.md' and \
            unquote(anchor).lower() not in anchors(dest):
        return f'{target!r}: no heading with id {anchor!r} in {dest.name}'
    return ''


def code_texts(path: Path) -> Iterator[str]:
    """The text of every inline code span and code block line."""
    prose, code = split_code(path.read_text(encoding='utf-8'))
    for _, line in prose:
        for _, span in INLINE_CODE.findall(line):
            yield span
    yield from code


def expand_braces(pattern: str) -> List[str]:
    """``a{b,c}d`` -> ``['abd', 'acd']`` (nested braces are not used)."""
    match = re.search(r'\{([^{}]*)\}', pattern)
    if not match:
        return [pattern]
    head, tail = pattern[:match.start()], pattern[match.end():]
    return [
        out for choice in match.group(1).split(',')
        for out in expand_braces(head + choice + tail)
    ]


def path_problem(name: str) -> str:
    """Why the repository path ``name`` (from a doc) names nothing, or
    ``''``."""
    name = name.rstrip('.:') if not name.endswith('...') else name[:-3]
    for placeholder in re.findall(r'<[^<>]*>', name):
        if placeholder not in PLACEHOLDERS:
            return (f'{name!r}: unknown placeholder {placeholder!r} (known: '
                    f'{", ".join(PLACEHOLDERS)})')
    pattern = re.sub(r'<[^<>]*>', '*', name)
    if not any(ch in pattern for ch in '*?[{'):
        return '' if (REPO / pattern).exists() else \
            f'{name!r}: no such file or folder'
    for candidate in expand_braces(pattern.rstrip('/')):
        if any(REPO.glob(candidate)):
            return ''
    return f'{name!r}: matches no file or folder'


def named_paths(path: Path) -> Iterator[str]:
    """Every ``configs/...``, ``tools/...`` path and ``-m tools.<module>``
    in the code of a Markdown file."""
    for text in code_texts(path):
        yield from REPO_PATH.findall(text)
        for module in MODULE.findall(text):
            yield module.replace('.', '/') + '{.py,/}'


def module_problem(name: str) -> str:
    """Why a ``tools/a/b{.py,/}`` module path names nothing, or ``''``."""
    if any((REPO / c.rstrip('/')).exists() for c in expand_braces(name)):
        return ''
    return f'{name!r}: no such module'


def name_problem(name: str) -> str:
    """Why a name from :func:`named_paths` names nothing, or ``''``."""
    if name.endswith('{.py,/}'):
        return module_problem(name)
    return path_problem(name)


FILES = markdown_files()
IDS = [str(f.relative_to(REPO)) for f in FILES]


@pytest.mark.parametrize('md', FILES, ids=IDS)
def test_relative_links_resolve(md):
    problems = [
        f'line {number}: {problem}' for number, target in links(md)
        for problem in [link_problem(md, target)] if problem
    ]
    assert not problems, f'{md.relative_to(REPO)}:\n' + '\n'.join(problems)


@pytest.mark.parametrize('md', FILES, ids=IDS)
def test_named_repository_paths_exist(md):
    names = set(named_paths(md))
    if str(md.relative_to(REPO)).startswith(HISTORY_PAGES):
        names -= set(RETIRED)
    problems = sorted({name_problem(name) for name in names} - {''})
    assert not problems, f'{md.relative_to(REPO)}:\n' + '\n'.join(problems)


def test_the_checked_files_include_the_docs():
    names = set(IDS)
    assert {'README.md', 'docs/en/get_started.md',
            'configs/osdtw/README.md'} <= names


def test_the_checker_finds_broken_links_and_paths():
    md = REPO / 'docs' / 'en' / 'index.md'
    assert link_problem(md, 'get_started.md') == ''
    assert link_problem(md, 'user_guides/pipeline.md#resume') == ''
    assert 'no such file' in link_problem(md, 'no_such_page.md')
    assert 'no heading' in link_problem(md, 'get_started.md#no-such-part')
    assert link_problem(md, 'https://example.org/x.md') == ''
    assert path_problem('configs/osdtw/<dataset>/pipeline.py') == ''
    assert path_problem('configs/more/<dataset>/*_more_{ce,la-ce}.py') == ''
    assert 'no such' in path_problem('configs/osdtw/nowhere/pipeline.py')
    assert 'unknown placeholder' in path_problem('configs/<what>/x.py')
    assert 'matches no' in path_problem('configs/osdtw/<dataset>/nope.py')
    assert slug('5. How this relates to the paper\'s Eq. 17-18') == \
        '5-how-this-relates-to-the-papers-eq-17-18'
    assert slug('`tools/train.py`') == 'toolstrainpy'


def test_configs_guide_shows_the_example_word_for_word():
    example = (REPO / 'configs/examples/mmpretrain_mix_in.py').read_text()
    guide = (REPO / 'docs/en/user_guides/configs.md').read_text()
    assert f'```python\n{example}```' in guide


def test_retired_paths_are_gone_and_named_with_their_commit():
    for path, commit in RETIRED.items():
        assert not (REPO / path).exists(), path
    for md in (REPO / HISTORY_PAGES).glob('*.md'):
        text = md.read_text(encoding='utf-8')
        for path, commit in RETIRED.items():
            if path in text:
                assert commit in text, (md, path)
