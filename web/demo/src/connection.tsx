import type { ConnectionStatus } from '@sqlsync/client';
import { rememberOffline } from './config';
import { useConnectionStatus, useSetConnectionEnabled } from './todo';

const LABELS: Record<ConnectionStatus, string> = {
  connected: 'Online',
  connecting: 'Connecting…',
  offline: 'Offline (retrying)',
  disabled: 'Offline',
};

/**
 * The status badge and the online/offline switch of the list `docId` (the
 * choice is remembered for the next open, see config.ts); just a badge for a list opened without a server (`?server=none`).
 */
export function ConnectionControls({ docId, localOnly }: { docId: string; localOnly: boolean }) {
  const status = useConnectionStatus();
  const setEnabled = useSetConnectionEnabled();

  if (localOnly) {
    return (
      <span className="badge badge-disabled" data-testid="status" data-status={status}>
        Local only
      </span>
    );
  }

  const enabled = status !== 'disabled';
  const toggle = () => {
    rememberOffline(docId, enabled);
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
