import { h } from '../dom.js';

type Cell = Node | string | null | readonly Node[];

/** A plain table. */
export function table(head: readonly string[], rows: readonly (readonly Cell[])[]): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'muted pad' }, 'Nothing yet.');
  return h('table', { class: 'table' }, h('thead', null, h('tr', null, head.map((c) => h('th', null, c)))), h('tbody', null, rows.map((r) => h('tr', null, r.map((c) => h('td', null, c as Node))))));
}

/** Field: name, label, placeholder, and type (`text` by default, `password`, `textarea`, `select:a,b`). */
export type Field = readonly [name: string, label: string, placeholder: string, type?: string];

/** A small form; `onSubmit` gets the trimmed values by name (passwords untrimmed). */
export function actionForm(fields: readonly Field[], submitLabel: string, onSubmit: (values: Record<string, string>) => Promise<void>): HTMLFormElement {
  const inputs = fields.map(([name, label, placeholder, type = 'text']) => {
    let input: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
    if (type === 'textarea') input = h('textarea', { name, placeholder, rows: 2 });
    else if (type.startsWith('select:')) input = h('select', { name }, type.slice(7).split(',').map((o) => { const [value = '', text = value] = o.split('='); return h('option', { value }, text); }));
    else input = h('input', { name, placeholder, type, autocomplete: type === 'password' ? 'new-password' : 'off' });
    return { name, type, input, el: h('label', null, label, input) };
  });
  const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, submitLabel);
  const form = h('form', { class: 'form form-inline' }, inputs.map((i) => i.el), h('div', { class: 'form-actions' }, submit));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const values: Record<string, string> = {};
    for (const i of inputs) values[i.name] = i.type === 'password' ? i.input.value : i.input.value.trim();
    submit.disabled = true;
    void onSubmit(values).finally(() => {
      submit.disabled = false;
      for (const i of inputs) if (i.type === 'password') i.input.value = '';
    });
  });
  return form;
}

/** Shows a message at the top of `el` for a few seconds. */
export function flash(el: HTMLElement, message: string, tone: 'ok' | 'bad' = 'ok'): void {
  const note = h('div', { class: `alert alert-${tone} flash`, role: 'status' }, message);
  el.prepend(note);
  setTimeout(() => note.remove(), tone === 'ok' ? 4_000 : 10_000);
}
