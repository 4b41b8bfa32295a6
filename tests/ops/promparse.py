#!/usr/bin/python3
"""Checks Prometheus text exposition format 0.0.4 strictly, plus the lints of
`promtool check metrics` that apply to us (the Debian package that ships
promtool is ~100 MB with a server that starts on install, so the tests use
this instead; tests/ops/check also runs promtool when it is installed).

    promparse.py FILE|-      prints "ok: N families, M samples" or one problem
                             per line ("LINE: what"); exit status 0 iff none
    promparse.py --self-test broken expositions it must refuse (TAP)

Checked: line syntax (names, labels, escapes, values, timestamps), # HELP and
# TYPE once per family, before its samples, with no samples of the family
after another family began; sample names of their family's type (_bucket,
_sum, _count for histograms; _sum, _count and quantile for summaries);
duplicate series; counters and histogram counts not negative; histogram
buckets with increasing le, cumulative counts that never go down, a +Inf
bucket equal to _count and a _sum. Lints: a HELP for every family, counter
names ending in _total and others not, no abbreviated units (_ms, _us, ...),
base units (seconds, bytes) rather than milli/micro prefixes.
"""
import math
import re
import sys

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*'
TYPES = ('counter', 'gauge', 'histogram', 'summary', 'untyped')
ABBREV = ('_ms', '_us', '_ns', '_sec', '_secs', '_msec', '_usec', '_kb', '_mb', '_gb', '_kib', '_mib')
PREFIXED = ('milliseconds', 'microseconds', 'nanoseconds', 'kilobytes', 'megabytes', 'gigabytes')


def parse_value(s):
    """A Go ParseFloat-compatible number, or None."""
    if s in ('NaN', '+Inf', 'Inf', '-Inf'):
        return {'NaN': math.nan, '-Inf': -math.inf}.get(s, math.inf)
    if not re.fullmatch(r'[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?', s):
        return None
    return float(s)


def help_escapes_ok(s):
    """HELP text knows two escapes: \\\\ and \\n."""
    i = 0
    while i < len(s):
        if s[i] == '\\':
            if i + 1 >= len(s) or s[i + 1] not in '\\n':
                return False
            i += 2
        else:
            i += 1
    return True


def parse_labels(s, problems, where):
    """'a="x",b="y"' (inside the braces) -> list of (name, value)."""
    labels, i = [], 0
    while i < len(s):
        m = re.match(r'\s*(' + LABEL + r')\s*=\s*"', s[i:])
        if not m:
            problems.append(f'{where}: bad label at "{s[i:]}"')
            return None
        name, i, val = m.group(1), i + m.end(), ''
        while True:
            if i >= len(s):
                problems.append(f'{where}: unterminated label value')
                return None
            c = s[i]
            if c == '\\':
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    problems.append(f'{where}: bad escape in a label value')
                    return None
                val += {'n': '\n'}.get(s[i + 1], s[i + 1])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == '\n':
                problems.append(f'{where}: newline in a label value')
                return None
            else:
                val += c
                i += 1
        if name.startswith('__'):
            problems.append(f'{where}: label name {name} is reserved')
        if name in (n for n, _ in labels):
            problems.append(f'{where}: label {name} twice')
        labels.append((name, val))
        m = re.match(r'\s*(,|$)', s[i:])
        if not m:
            problems.append(f'{where}: expected , after label {name}')
            return None
        i += m.end()
    return labels


def family_of(name, types):
    """The family a sample belongs to, by the declared types."""
    for suffix in ('_bucket', '_sum', '_count'):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) in ('histogram', 'summary'):
            if suffix == '_bucket' and types[base] != 'histogram':
                return name
            return base
    return name


def check(text):
    problems = []
    if text and not text.endswith('\n'):
        problems.append('end: the last line has no newline')
    helps, types, samples, order = {}, {}, {}, []
    closed = set()          # families that ended (another one began)
    current = None

    def enter(fam, where):
        nonlocal current
        if fam != current:
            if fam in closed:
                problems.append(f'{where}: family {fam} is split (its lines are not together)')
            if current is not None:
                closed.add(current)
            current = fam
            if fam not in order:
                order.append(fam)

    for no, line in enumerate(text.split('\n')[:-1] if text.endswith('\n') else text.split('\n'), 1):
        where = f'{no}'
        if line == '' or line.isspace():
            continue
        if line.startswith('#'):
            m = re.match(r'#\s+(HELP|TYPE)\s+(' + NAME + r')(?:\s+(.*))?$', line)
            if not m:
                continue    # a comment
            kind, name, rest = m.group(1), m.group(2), m.group(3) or ''
            enter(name, where)
            if kind == 'HELP':
                if name in helps:
                    problems.append(f'{where}: second HELP for {name}')
                if not help_escapes_ok(rest):
                    problems.append(f'{where}: bad escape in HELP for {name}')
                helps[name] = rest
            else:
                if name in types:
                    problems.append(f'{where}: second TYPE for {name}')
                if rest.strip() not in TYPES:
                    problems.append(f'{where}: unknown type "{rest}" for {name}')
                if name in samples:
                    problems.append(f'{where}: TYPE for {name} after its samples')
                types[name] = rest.strip()
            continue
        m = re.match(r'(' + NAME + r')(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?\s*$', line)
        if not m:
            problems.append(f'{where}: not a sample: {line!r}')
            continue
        name, lbl, val = m.group(1), m.group(2), m.group(3)
        labels = parse_labels(lbl, problems, where) if lbl else []
        if labels is None:
            continue
        v = parse_value(val)
        if v is None:
            problems.append(f'{where}: value {val!r} is not a number')
            continue
        fam = family_of(name, types)
        enter(fam, where)
        key = (name, tuple(sorted(labels)))
        if key in samples.get(fam, {}):
            problems.append(f'{where}: series {name}{dict(labels)} twice')
        samples.setdefault(fam, {})[key] = v
        t = types.get(fam, 'untyped')
        if t == 'counter' and (v < 0 or math.isnan(v)):
            problems.append(f'{where}: counter {name} is {val}')
        if t in ('histogram', 'summary') and name != fam and name.endswith('_count') and v < 0:
            problems.append(f'{where}: {name} is negative')
        if t == 'histogram' and name == fam:
            problems.append(f'{where}: histogram sample {name} without _bucket, _sum or _count')
        if t == 'histogram' and name.endswith('_bucket') and 'le' not in dict(labels):
            problems.append(f'{where}: bucket without le')
        if t == 'summary' and name == fam and 'quantile' not in dict(labels):
            problems.append(f'{where}: summary sample without quantile')

    for fam in order:
        t = types.get(fam, 'untyped')
        if fam not in helps:
            problems.append(f'{fam}: no HELP (promtool: "no help text")')
        if t == 'counter' and not fam.endswith('_total'):
            problems.append(f'{fam}: a counter whose name does not end in _total')
        if t != 'counter' and fam.endswith('_total'):
            problems.append(f'{fam}: a {t} whose name ends in _total')
        for a in ABBREV:
            if a + '_' in fam + '_':
                problems.append(f'{fam}: abbreviated unit {a[1:]} (use seconds, bytes)')
        for p in PREFIXED:
            if p in fam:
                problems.append(f'{fam}: use base units, not {p}')
        if t == 'histogram':
            check_histogram(fam, samples.get(fam, {}), problems)
    return problems, len(order), sum(len(s) for s in samples.values())


def check_histogram(fam, series, problems):
    groups = {}
    for (name, labels), v in series.items():
        rest = tuple(kv for kv in labels if kv[0] != 'le')
        g = groups.setdefault(rest, {'buckets': [], 'sum': None, 'count': None})
        if name == fam + '_bucket':
            le = parse_value(dict(labels)['le'])
            if le is None:
                problems.append(f'{fam}: le {dict(labels)["le"]!r} is not a number')
                continue
            g['buckets'].append((le, v))
        elif name == fam + '_sum':
            g['sum'] = v
        elif name == fam + '_count':
            g['count'] = v
    for rest, g in groups.items():
        tag = f'{fam}{dict(rest)}'
        b = sorted(g['buckets'])
        if not b or b[-1][0] != math.inf:
            problems.append(f'{tag}: no +Inf bucket')
        for (le1, c1), (le2, c2) in zip(b, b[1:]):
            if le1 == le2:
                problems.append(f'{tag}: bucket le={le1} twice')
            if c2 < c1:
                problems.append(f'{tag}: bucket le={le2} counts fewer ({c2}) than le={le1} ({c1})')
        if g['count'] is None:
            problems.append(f'{tag}: no _count')
        elif b and b[-1][0] == math.inf and b[-1][1] != g['count']:
            problems.append(f'{tag}: +Inf bucket {b[-1][1]} != _count {g["count"]}')
        if g['sum'] is None:
            problems.append(f'{tag}: no _sum')


GOOD = """# HELP a_total A counter.
# TYPE a_total counter
a_total{x="1",y="q\\"\\\\\\n"} 3
a_total{x="2"} 0 1700000000000
# HELP h_seconds A histogram.
# TYPE h_seconds histogram
h_seconds_bucket{le="0.1"} 1
h_seconds_bucket{le="1"} 2
h_seconds_bucket{le="+Inf"} 2
h_seconds_sum 0.5
h_seconds_count 2
# HELP g A gauge \\\\ with \\n escapes.
# TYPE g gauge
g -1.5e3
"""

# (what, text, a word the problem must contain); None: no problem
CASES = [
    ('a complete exposition', GOOD, None),
    ('no newline at the end', GOOD.rstrip('\n'), 'newline'),
    ('a family without HELP', '# TYPE b gauge\nb 1\n', 'no HELP'),
    ('a counter without _total', '# HELP c x\n# TYPE c counter\nc 1\n', '_total'),
    ('a gauge with _total', '# HELP d_total x\n# TYPE d_total gauge\nd_total 1\n', '_total'),
    ('a negative counter', '# HELP e_total x\n# TYPE e_total counter\ne_total -1\n', 'counter'),
    ('the same series twice', '# HELP f x\n# TYPE f gauge\nf{a="1"} 1\nf{a="1"} 2\n', 'twice'),
    ('a family split in two', '# HELP f x\n# TYPE f gauge\nf{a="1"} 1\n# HELP g x\n# TYPE g gauge\ng 1\nf{a="2"} 1\n',
     'split'),
    ('TYPE after the samples', '# HELP f x\nf 1\n# TYPE f gauge\n', 'TYPE'),
    ('a bad escape in a label', '# HELP f x\n# TYPE f gauge\nf{a="\\x"} 1\n', 'escape'),
    ('a value that is no number', '# HELP f x\n# TYPE f gauge\nf 1,5\n', 'number'),
    ('an abbreviated unit', '# HELP lat_ms x\n# TYPE lat_ms gauge\nlat_ms 1\n', 'abbreviated'),
    ('buckets that go down', GOOD.replace('le="1"} 2', 'le="1"} 0'), 'fewer'),
    ('+Inf bucket != _count', GOOD.replace('h_seconds_count 2', 'h_seconds_count 3'), '_count'),
    ('no +Inf bucket', GOOD.replace('h_seconds_bucket{le="+Inf"} 2\n', ''), '+Inf'),
    ('no _sum', GOOD.replace('h_seconds_sum 0.5\n', ''), '_sum'),
]


def self_test():
    """The checker itself, as TAP: it must find each broken case."""
    n = failed = 0
    for what, text, word in CASES:
        problems, _, _ = check(text)
        good = not problems if word is None else any(word in p for p in problems)
        n += 1
        failed += not good
        print(f'{"ok" if good else "not ok"} {n} - promparse: {what}'
              f'{"" if word is None else " is found"}{"" if good else ": " + "; ".join(problems)}')
    print(f'1..{n}')
    return 1 if failed else 0


def main():
    if sys.argv[1:] == ['--self-test']:
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__.strip().split('\n\n')[1], file=sys.stderr)
        return 2
    text = sys.stdin.read() if sys.argv[1] == '-' else open(sys.argv[1], encoding='utf-8').read()
    problems, fams, n = check(text)
    for p in problems:
        print(p)
    if not problems:
        print(f'ok: {fams} families, {n} samples')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
