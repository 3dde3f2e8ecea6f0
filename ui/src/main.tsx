import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, must, setCsrfToken, setOnUnauthorized } from './api/client';
import { BatchesPage } from './pages/batches';
import { CampaignsPage } from './pages/campaigns';
import { ContactsPage } from './pages/contacts';
import { DomainsPage } from './pages/domains';
import { KeysPage } from './pages/keys';
import { ListsPage } from './pages/lists';
import { MessagesPage } from './pages/messages';
import { OverviewPage } from './pages/overview';
import { SequencesPage } from './pages/sequences';
import { SignIn } from './pages/signin';
import { SuppressionsPage } from './pages/suppressions';
import { TemplatesPage } from './pages/templates';
import { WebhooksPage } from './pages/webhooks';
import { KeySwitcher } from './pages/key-switcher';
import { Link, Loading, ScopeContext, type UiSession } from './ui';
import './styles.css';

const PAGES = [
  { path: '/ui/', title: 'Overview', page: OverviewPage },
  { path: '/ui/messages', title: 'Messages', page: MessagesPage },
  { path: '/ui/campaigns', title: 'Campaigns', page: CampaignsPage },
  { path: '/ui/contacts', title: 'Contacts', page: ContactsPage },
  { path: '/ui/lists', title: 'Lists', page: ListsPage },
  { path: '/ui/templates', title: 'Templates', page: TemplatesPage },
  { path: '/ui/sequences', title: 'Sequences', page: SequencesPage },
  { path: '/ui/batches', title: 'Batches', page: BatchesPage },
  { path: '/ui/webhooks', title: 'Webhooks', page: WebhooksPage },
  { path: '/ui/suppressions', title: 'Suppressions', page: SuppressionsPage },
  { path: '/ui/domains', title: 'Domains', page: DomainsPage },
  { path: '/ui/keys', title: 'Keys', page: KeysPage, admin: true },
] as const;

function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    addEventListener('popstate', update);
    return () => removeEventListener('popstate', update);
  }, []);
  return path;
}

function App() {
  const [session, setSession] = useState<UiSession | null | undefined>(undefined);
  const [keyId, setKeyId] = useState<string | undefined>(undefined);
  const path = usePath();

  const signedIn = (next: UiSession | null) => {
    setCsrfToken(next?.csrf_token ?? null);
    setSession(next);
    if (!next) setKeyId(undefined);
  };
  useEffect(() => {
    setOnUnauthorized(() => signedIn(null));
    api.GET('/ui/session').then(({ data }) => signedIn(data ?? null), () => signedIn(null));
  }, []);

  if (session === undefined) return <Loading />;
  if (session === null) return <SignIn onSignedIn={signedIn} />;

  const pages = PAGES.filter((p) => !('admin' in p) || session.admin);
  const current = pages.find((p) => p.path !== '/ui/' && (path === p.path || path.startsWith(`${p.path}/`))) ?? pages[0]!;
  const Current = current.page;
  return (
    <ScopeContext.Provider value={{ session, keyId }}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <div class="shell">
        <nav class="nav" aria-label="Sections">
          <p class="brand">MailerDash</p>
          <ul>
            {pages.map((p) => (
              <li key={p.path}>
                <Link href={p.path} current={p === current}>
                  {p.title}
                </Link>
              </li>
            ))}
          </ul>
          <div class="who">
            <p>
              Signed in as <strong>{session.name}</strong>
              {session.admin ? ' (admin)' : ''}
            </p>
            {session.admin ? <KeySwitcher keyId={keyId} onChange={setKeyId} /> : null}
            <button
              type="button"
              onClick={async () => {
                await must(api.DELETE('/ui/session'));
                signedIn(null);
              }}
            >
              Sign out
            </button>
          </div>
        </nav>
        <main id="main" tabIndex={-1}>
          <Current key={`${current.path}|${keyId ?? ''}`} path={path} />
        </main>
      </div>
    </ScopeContext.Provider>
  );
}

render(<App />, document.getElementById('app')!);
