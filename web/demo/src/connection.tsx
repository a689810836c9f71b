import { useEffect } from 'react';
import type { ConnectionStatus } from '@sqlsync/client';
import { useConnectionStatus, useSetConnectionEnabled } from './todo';

const LABELS: Record<ConnectionStatus, string> = {
  connected: 'Online',
  connecting: 'Connecting…',
  offline: 'Offline (retrying)',
  disabled: 'Offline',
};

// The user's "Go offline" survives a reload: it is a choice, not a state.
const offlineKey = (docId: string) => `sqlsync-demo:offline:${docId}`;

/**
 * The status badge and the online/offline switch of the list `docId`;
 * just a badge for a list opened without a server (`?server=none`).
 */
export function ConnectionControls({ docId, localOnly }: { docId: string; localOnly: boolean }) {
  const status = useConnectionStatus();
  const setEnabled = useSetConnectionEnabled();
  useEffect(() => {
    if (!localOnly && localStorage.getItem(offlineKey(docId))) setEnabled(false);
  }, [docId, localOnly, setEnabled]);

  if (localOnly) {
    return (
      <span className="badge badge-disabled" data-testid="status" data-status={status}>
        Local only
      </span>
    );
  }

  const enabled = status !== 'disabled';
  const toggle = () => {
    if (enabled) localStorage.setItem(offlineKey(docId), '1');
    else localStorage.removeItem(offlineKey(docId));
    setEnabled(!enabled);
  };
  return (
    <div className="connection">
      <span className={`badge badge-${status}`} data-testid="status" data-status={status}>
        {LABELS[status]}
      </span>
      <button type="button" data-testid="connection-toggle" onClick={toggle}>
        {enabled ? 'Go offline' : 'Go online'}
      </button>
    </div>
  );
}
