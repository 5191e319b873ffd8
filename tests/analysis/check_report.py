#!/usr/bin/env python3
"""tests/analysis/check_report.py - checks a `wattscale report` folder, with the standard
library only: report.html parses and embeds every drawn figure as a decodable SVG; each
figures/NAME.svg is XML with an <svg> root; each figures/NAME.png is a valid PNG (signature,
chunk CRCs, IHDR, image data that inflates to exactly the rows IHDR announces); every
figure has its .gp and .dat; report.md links PNGs that exist; every tables/*.csv has a
header and rows of its width whose fields are numbers, text or empty.

usage: check_report.py DIR [--figures a,b,...] [--no-figures a,b,...] [--energy yes|no]
       check_report.py --png FILE   (one PNG, e.g. a browser screenshot)
Exit 0 when all holds, else 1 with the reasons."""
import base64, csv, html.parser, os, re, struct, sys, xml.etree.ElementTree as ET, zlib

errors = []
def bad(msg): errors.append(msg)

def check_png(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n': return bad(f'{path}: not a PNG signature')
    pos, chunks, idat = 8, [], b''
    while pos < len(data):
        if pos + 12 > len(data): return bad(f'{path}: truncated chunk at {pos}')
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc, = struct.unpack('>I', data[pos + 8 + n:pos + 12 + n])
        if zlib.crc32(kind + body) & 0xffffffff != crc: return bad(f'{path}: CRC of {kind} wrong')
        chunks.append(kind)
        if kind == b'IHDR': w, h, depth, color, _, _, interlace = struct.unpack('>IIBBBBB', body)
        if kind == b'IDAT': idat += body
        pos += 12 + n
    if chunks[0] != b'IHDR' or chunks[-1] != b'IEND': return bad(f'{path}: chunks {chunks[:3]}...{chunks[-1:]}')
    if not (w > 0 and h > 0): return bad(f'{path}: empty image {w}x{h}')
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    if interlace == 0:
        want = h * (1 + (w * channels * depth + 7) // 8)
        got = len(zlib.decompress(idat))
        if got != want: bad(f'{path}: image data {got} bytes, IHDR {w}x{h} wants {want}')
    return (w, h)

def check_svg(path, text=None):
    try:
        root = ET.fromstring(text) if text is not None else ET.parse(path).getroot()
    except ET.ParseError as e:
        return bad(f'{path}: not XML: {e}')
    if root.tag != '{http://www.w3.org/2000/svg}svg': bad(f'{path}: root <{root.tag}>, not <svg>')

class Html(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.stack, self.text = [], [], []
    def handle_starttag(self, tag, attrs):
        if tag == 'img': self.imgs.append(dict(attrs).get('src', ''))
        if tag not in ('img', 'meta', 'br'): self.stack.append(tag)
    def handle_endtag(self, tag):
        if tag in ('img', 'meta', 'br'): return
        if not self.stack or self.stack[-1] != tag: bad(f'report.html: </{tag}> closes <{self.stack[-1] if self.stack else None}>')
        else: self.stack.pop()
    def handle_data(self, d): self.text.append(d)

def main(argv):
    if argv[:1] == ['--png']:
        check_png(argv[1])
        return finish()
    d = argv[0]
    opts = dict(zip(argv[1::2], argv[2::2]))
    want = [f for f in opts.get('--figures', '').split(',') if f]
    absent = [f for f in opts.get('--no-figures', '').split(',') if f]
    figs = os.path.join(d, 'figures')
    svgs = sorted(f[:-4] for f in os.listdir(figs) if f.endswith('.svg'))
    for name in want:
        if name not in svgs: bad(f'figure {name} was not drawn (drawn: {svgs})')
    for name in absent:
        if name in svgs: bad(f'figure {name} was drawn but should not be')
    for name in svgs:
        check_svg(os.path.join(figs, name + '.svg'))
        size = check_png(os.path.join(figs, name + '.png'))
        for ext in ('.gp', '.dat'):
            if not os.path.isfile(os.path.join(figs, name + ext)): bad(f'figures/{name}{ext} missing')
    p = Html()
    page = open(os.path.join(d, 'report.html'), encoding='utf-8').read()
    p.feed(page)
    p.close()
    embedded = [s for s in p.imgs if s.startswith('data:image/svg+xml;base64,')]
    if len(embedded) != len(svgs) or len(p.imgs) != len(svgs):
        bad(f'report.html embeds {len(embedded)} SVGs ({len(p.imgs)} images) for {len(svgs)} figures')
    for i, src in enumerate(embedded): check_svg(f'report.html image {i}', base64.b64decode(src.split(',', 1)[1]))
    if re.search(r'<(link|script)[^>]+(src|href)=["\']?https?:', page): bad('report.html loads external resources')
    text = ' '.join(p.text)
    energy = opts.get('--energy')
    if energy == 'no' and 'Energy was not measured' not in text: bad('report.html does not say energy was not measured')
    if energy == 'yes' and 'Energy was not measured' in text: bad('report.html says energy was not measured')
    md = open(os.path.join(d, 'report.md'), encoding='utf-8').read()
    for link in re.findall(r'\]\((figures/[^)]+\.png)\)', md):
        if not os.path.isfile(os.path.join(d, link)): bad(f'report.md links {link}, which does not exist')
    if len(re.findall(r'\]\((figures/[^)]+\.png)\)', md)) != len(svgs): bad('report.md does not show every figure')
    tables = os.path.join(d, 'tables')
    names = sorted(os.listdir(tables))
    for need in ('runs.csv', 'series.csv', 'energy_fits.csv', 'slope_regression.csv', 'accuracy_vs_gbs.csv',
                 'pareto.csv', 'energy_to_target.csv'):
        if need not in names: bad(f'tables/{need} missing')
    for name in names:
        rows = list(csv.reader(open(os.path.join(tables, name), newline='', encoding='utf-8')))
        if not rows: bad(f'tables/{name} is empty'); continue
        head = rows[0]
        if len(set(head)) != len(head): bad(f'tables/{name}: duplicate column names')
        for i, r in enumerate(rows[1:], 2):
            if len(r) != len(head): bad(f'tables/{name}:{i}: {len(r)} fields, header has {len(head)}')
    return finish()

def finish():
    for e in errors: print('check_report:', e, file=sys.stderr)
    return 1 if errors else 0

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
