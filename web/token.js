// The API token form: shown when the server refuses a request for want of
// the token (a server started with --api-token), hidden once a token is
// accepted. The token goes into a cookie (api.js useToken), never into the
// page's address or storage, and the field is emptied once it is used.
// "Forget the API token" in the top bar deletes the cookie.

import { forgetToken, hasToken, onTokenNeeded, useToken } from './api.js';

const ASK = 'This server is protected by an API token: its jobs can be seen and created only with it. ' +
  'Ask whoever runs the server for the token (it is the --api-token setting).';
const REFUSED = 'The server did not accept this token. Check it and enter it again.';

export function initToken({ onAccepted = () => {}, onForgotten = () => {}, announce = () => {} } = {}) {
  const panel = document.getElementById('token-panel');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const help = document.getElementById('token-help');
  const error = document.getElementById('token-error');
  const submit = document.getElementById('token-submit');
  const forget = document.getElementById('forget-token');
  let busy = false;

  function showError(text) {
    error.textContent = text || '';
    error.hidden = !text;
    input.setAttribute('aria-invalid', text ? 'true' : 'false');
  }

  // Shows the form; the focus moves to the field only when the form
  // appears (or a token was refused), never while the person types in it
  // or elsewhere as further refusals come in.
  function ask() {
    if (busy) return;
    const appearing = panel.hidden;
    help.textContent = ASK;
    // A token in the cookie that the server refuses is a wrong token.
    showError(hasToken() ? REFUSED : '');
    forget.hidden = true;
    panel.hidden = false;
    if (appearing) input.focus();
  }

  onTokenNeeded(ask);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy) return;
    // Spaces around a pasted token are not part of it.
    const token = input.value.trim();
    if (!token) {
      showError('Enter the token first.');
      input.focus();
      return;
    }
    busy = true;
    submit.disabled = true;
    submit.textContent = 'Checking…';
    let ok = false;
    try {
      ok = await useToken(token);
    } finally {
      busy = false;
      submit.disabled = false;
      submit.textContent = 'Use this token';
    }
    if (!ok) {
      showError(REFUSED);
      input.select();
      input.focus();
      return;
    }
    input.value = '';
    showError('');
    panel.hidden = true;
    forget.hidden = false;
    announce('API token accepted.');
    onAccepted();
  });

  forget.addEventListener('click', () => {
    forgetToken();
    forget.hidden = true;
    announce('This browser no longer sends the API token.');
    onForgotten();
  });

  forget.hidden = !hasToken();
}
