import { useState } from 'preact/hooks';
import { api, must } from '../api/client';
import { ErrorNote, type UiSession } from '../ui';

export function SignIn(props: { onSignedIn: (session: UiSession) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin" id="main">
      <form
        aria-labelledby="signin-title"
        onSubmit={async (event) => {
          event.preventDefault();
          const key = String(new FormData(event.currentTarget).get('key') ?? '').trim();
          setBusy(true);
          setError(null);
          try {
            props.onSignedIn(await must(api.POST('/ui/session', { body: { key } })));
          } catch (e) {
            setError((e as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1 id="signin-title">MailerDash</h1>
        <p class="muted">Sign in with an API key. It is exchanged for a session cookie and not kept in the browser.</p>
        <label class="field">
          <span>API key</span>
          <input name="key" type="password" autocomplete="current-password" required autofocus />
        </label>
        <button type="submit" disabled={busy} aria-busy={busy}>
          Sign in
        </button>
        {error ? <ErrorNote error={error} /> : null}
      </form>
    </main>
  );
}
