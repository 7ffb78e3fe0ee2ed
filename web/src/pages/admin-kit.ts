import { errorText } from '../api.js';
import { confirmDialog, h, render, type Child } from '../dom.js';
import type { AdminContext } from './admin.js';

/** Field: name, label, placeholder, and type (`text` by default, `password`, `textarea`, `select:a,b`). */
export type Field = readonly [name: string, label: string, placeholder: string, type?: string];

/** A small form; `onSubmit` gets the trimmed values by name (passwords untrimmed). */
export function actionForm(
  fields: readonly Field[],
  submitLabel: string,
  onSubmit: (values: Record<string, string>) => Promise<void>,
): HTMLFormElement {
  const inputs = fields.map(([name, label, placeholder, type = 'text']) => {
    let input: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
    if (type === 'textarea') input = h('textarea', { name, placeholder, rows: 2 });
    else if (type.startsWith('select:'))
      input = h(
        'select',
        { name },
        type
          .slice(7)
          .split(',')
          .map((o) => {
            const [value = '', text = value] = o.split('=');
            return h('option', { value }, text);
          }),
      );
    else
      input = h('input', {
        name,
        placeholder,
        type,
        autocomplete: type === 'password' ? 'new-password' : 'off',
      });
    return { name, type, input, el: h('label', null, label, input) };
  });
  const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, submitLabel);
  const form = h(
    'form',
    { class: 'form form-inline' },
    inputs.map((i) => i.el),
    h('div', { class: 'form-actions' }, submit),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const values: Record<string, string> = {};
    for (const i of inputs)
      values[i.name] = i.type === 'password' ? i.input.value : i.input.value.trim();
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

/** Runs a change: on success the section is drawn again and says `done` (if given); a failure shows in `status`. */
export type Act = (what: () => Promise<unknown>, done?: string) => Promise<void>;

/** The {@link Act} of a section whose failures show in `status`. */
export function sectionAct(ctx: AdminContext, status: HTMLElement): Act {
  return async (what, done) => {
    try {
      await what();
      await ctx.reload();
      if (done !== undefined) flash(ctx.el, done);
    } catch (err) {
      flash(status, errorText(err), 'bad');
    }
  };
}

/** A folded card with a form to add something; nothing for those who may only read. */
export function addCard(
  ctx: AdminContext,
  summary: string,
  form: () => HTMLFormElement,
): HTMLElement | null {
  return ctx.canWrite
    ? h('details', { class: 'card' }, h('summary', { class: 'card-title' }, summary), form())
    : null;
}

/** The section's list: a flush card around `children` (a table). */
export function listCard(...children: Child[]): HTMLElement {
  return h('section', { class: 'card card-flush' }, ...children);
}

/** Draws a card titled `title` with a Close button into `detail` and scrolls to it. */
export function showDetail(detail: HTMLElement, id: string, title: string, ...body: Child[]): void {
  render(
    detail,
    h(
      'section',
      { class: 'card', id },
      h(
        'div',
        { class: 'card-head' },
        h('h3', null, title),
        smallButton('Close', () => render(detail)),
      ),
      ...body,
    ),
  );
  detail.scrollIntoView({ behavior: 'smooth', block: 'start' });
}

/** A small row button; `danger` for what removes or refuses. */
export function smallButton(
  label: string,
  onclick: () => void,
  options: { readonly danger?: boolean; readonly attrs?: Readonly<Record<string, string>> } = {},
): HTMLButtonElement {
  return h(
    'button',
    {
      ...options.attrs,
      class: options.danger === true ? 'btn btn-small btn-ghost-danger' : 'btn btn-small btn-ghost',
      type: 'button',
      onclick,
    },
    label,
  );
}

/** Asks for confirmation of a dangerous change (`note` says what follows), then runs `then` if confirmed. */
export function confirmThen(
  title: string,
  note: string,
  confirm: string,
  then: () => Promise<void>,
): void {
  void confirmDialog(title, h('p', null, note), { confirm, danger: true }).then((ok) =>
    ok ? then() : undefined,
  );
}
