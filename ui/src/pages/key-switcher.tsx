import { api, must } from '../api/client';
import { useAsync } from '../ui';

/** An admin sees every key's data; picking one key filters every list with ?key_id=. */
export function KeySwitcher(props: { keyId: string | undefined; onChange: (keyId: string | undefined) => void }) {
  const keys = useAsync(() => must(api.GET('/v1/keys', { params: { query: { limit: 1000, offset: 0 } } })), []);
  return (
    <label class="field">
      <span>Showing data of</span>
      <select value={props.keyId ?? ''} onChange={(event) => props.onChange(event.currentTarget.value || undefined)}>
        <option value="">every key</option>
        {(keys.data?.data ?? [])
          .filter((key) => !key.revoked_at)
          .map((key) => (
            <option key={key.id} value={key.id}>
              {key.name} ({key.id})
            </option>
          ))}
      </select>
    </label>
  );
}
