import { api, errorText, type Me } from '../api.js';
import { brandMark, h, render } from '../dom.js';

type LoginResult = { status: 'ok'; me: Me } | { status: 'totp-required'; ticket: string };

/** Sign in: password, then the TOTP code when the user has one. */
export async function loginPage(root: HTMLElement, onSignedIn: (me: Me) => void): Promise<void> {
  const error = h('div', { class: 'alert alert-bad', role: 'alert', hidden: true });
  const fail = (err: unknown): void => {
    error.textContent = errorText(err);
    error.hidden = false;
  };
  const card = h('div', { class: 'login-card' });
  render(root, h('div', { class: 'login-page' }, card));

  const passwordStep = (): void => {
    const user = h('input', {
      name: 'user',
      autocomplete: 'username',
      required: true,
      autofocus: true,
      spellcheck: 'false',
      autocapitalize: 'none',
    });
    const password = h('input', {
      name: 'password',
      type: 'password',
      autocomplete: 'current-password',
      required: true,
    });
    const submit = h('button', { class: 'btn btn-primary btn-wide', type: 'submit' }, 'Sign in');
    const form = h(
      'form',
      { class: 'form' },
      h('label', null, 'User', user),
      h('label', null, 'Password', password),
      error,
      submit,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      submit.disabled = true;
      error.hidden = true;
      void api<LoginResult>('POST', '/api/auth/login', {
        user: user.value.trim(),
        password: password.value,
      })
        .then((r) => (r.status === 'ok' ? onSignedIn(r.me) : totpStep(r.ticket)))
        .catch((err: unknown) => {
          password.value = '';
          fail(err);
        })
        .finally(() => (submit.disabled = false));
    });
    render(card, header('Sign in to the access bastion'), form);
    user.focus();
  };

  const totpStep = (ticket: string): void => {
    const code = h('input', {
      name: 'code',
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      pattern: '[0-9]{6}',
      maxlength: 6,
      required: true,
    });
    const submit = h('button', { class: 'btn btn-primary btn-wide', type: 'submit' }, 'Verify');
    error.hidden = true;
    const form = h(
      'form',
      { class: 'form' },
      h('label', null, 'Code from your authenticator app', code),
      error,
      submit,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      submit.disabled = true;
      void api<LoginResult>('POST', '/api/auth/totp', { ticket, code: code.value })
        .then((r) => {
          if (r.status === 'ok') onSignedIn(r.me);
        })
        .catch((err: unknown) => {
          // The ticket is single-use: start again from the password.
          passwordStep();
          fail(err);
        });
    });
    render(card, header('Two-step verification'), form);
    code.focus();
  };

  passwordStep();
  return Promise.resolve();
}

function header(subtitle: string): HTMLElement {
  return h(
    'div',
    { class: 'login-header' },
    h('div', { class: 'brand brand-large' }, brandMark(), 'Gatehouse'),
    h('p', { class: 'muted' }, subtitle),
  );
}
