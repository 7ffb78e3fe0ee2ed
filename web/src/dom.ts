/** Tiny DOM helpers: elements from tag, attributes and children; text is never parsed as HTML. */

/** What `h` and `render` take as children. */
export type Child = Node | string | number | null | undefined | false | readonly Child[];
type Attrs = Record<string, string | number | boolean | EventListener | null | undefined>;

/** Creates `<tag>` with attributes (`on…` are listeners, booleans toggle) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function')
      el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Appends children (strings become text nodes). */
export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child as readonly Child[]);
    else
      parent.appendChild(
        typeof child === 'object' ? (child as Node) : document.createTextNode(String(child)),
      );
  }
}

/** Replaces the content of `el`. */
export function render(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A table cell: its content, or a `<td>` made with `h` where the cell needs attributes. */
export type Cell = Child;
/** A table row: its cells, or a `<tr>` made with `h` where the row needs attributes. */
export type Row = readonly Cell[] | HTMLTableRowElement;

/** Options of {@link table}. */
export interface TableOptions {
  /** Classes the table has besides `table` (e.g. `audit-table`). */
  readonly class?: string;
  /** Said instead of a table without rows (default `Nothing yet.`); `null` draws the empty table. */
  readonly empty?: string | null;
}

/** A `.table` with a header row (none when `head` is null); cells that are not a `<td>` are put in one. */
export function table(
  head: readonly string[] | null,
  rows: readonly Row[],
  options: TableOptions = {},
): HTMLElement {
  const { empty = 'Nothing yet.' } = options;
  if (rows.length === 0 && empty !== null) return h('p', { class: 'muted pad' }, empty);
  return h(
    'table',
    { class: options.class === undefined ? 'table' : `table ${options.class}` },
    head === null
      ? null
      : h(
          'thead',
          null,
          h(
            'tr',
            null,
            head.map((c) => h('th', null, c)),
          ),
        ),
    h(
      'tbody',
      null,
      rows.map((r) =>
        r instanceof HTMLTableRowElement
          ? r
          : h(
              'tr',
              null,
              r.map((c) => (c instanceof HTMLTableCellElement ? c : h('td', null, c))),
            ),
      ),
    ),
  );
}

/** `2026-11-29 21:04:05` in local time. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `1h 05m`, `3m 12s`, `42s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** `in 58m`, `3m ago`. */
export function relative(ms: number, now = Date.now()): string {
  const delta = ms - now;
  return delta >= 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

/** `12.4 KiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i] ?? ''}`;
}

/** A status pill. */
export function pill(
  text: string,
  tone: 'ok' | 'warn' | 'bad' | 'live' | 'muted' | 'info' = 'muted',
): HTMLElement {
  return h(
    'span',
    { class: `pill pill-${tone}` },
    tone === 'live' ? h('span', { class: 'dot' }) : null,
    text,
  );
}

/** A button that copies `text`, answering "Copied". */
export function copyButton(text: string): HTMLButtonElement {
  const btn = h(
    'button',
    { class: 'btn btn-small btn-ghost', type: 'button', title: 'Copy to clipboard' },
    'Copy',
  );
  btn.addEventListener('click', () => {
    void copyText(text).then(() => {
      btn.textContent = 'Copied';
      setTimeout(() => (btn.textContent = 'Copy'), 1500);
    });
  });
  return btn;
}

async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h('textarea', null, text);
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
}

/** A modal dialog; resolves true when confirmed. */
export function confirmDialog(
  title: string,
  body: Child,
  options: { readonly confirm?: string; readonly danger?: boolean } = {},
): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'modal' });
    const done = (ok: boolean): void => {
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    render(
      dialog,
      h('h3', null, title),
      h('div', { class: 'modal-body' }, body),
      h(
        'div',
        { class: 'modal-actions' },
        h(
          'button',
          { class: 'btn btn-ghost', type: 'button', onclick: () => done(false) },
          'Cancel',
        ),
        h(
          'button',
          {
            class: `btn ${options.danger === true ? 'btn-danger' : 'btn-primary'}`,
            type: 'button',
            'data-confirm': true,
            onclick: () => done(true),
          },
          options.confirm ?? 'OK',
        ),
      ),
    );
    dialog.addEventListener('cancel', () => done(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A dialog that shows a secret once, with a copy button. */
export function showOnce(title: string, note: string, secret: string): Promise<boolean> {
  return confirmDialog(
    title,
    [
      h('p', null, note),
      h('div', { class: 'secret-box' }, h('code', { class: 'secret' }, secret), copyButton(secret)),
    ],
    { confirm: 'Done' },
  );
}

/** The Gatehouse mark: a small shield (inline SVG, no external asset). */
export function brandMark(): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '22');
  svg.setAttribute('height', '22');
  svg.setAttribute('class', 'brand-mark');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute(
    'd',
    'M12 2 4 5v6c0 5 3.4 9.4 8 11 4.6-1.6 8-6 8-11V5l-8-3Zm-1.2 13.6-3.4-3.4 1.4-1.4 2 2 4.6-4.6 1.4 1.4-6 6Z',
  );
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return svg;
}
