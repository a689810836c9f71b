import { useState, type FormEvent } from 'react';
import { useDocument } from './todo';

type Outcome = { rows: Record<string, unknown>[] } | { error: string } | null;

/** Runs read-only SQL against this replica's local copy (optimistic state included). */
export function SqlPanel() {
  const document = useDocument();
  const [sql, setSql] = useState('SELECT * FROM tasks');
  const [outcome, setOutcome] = useState<Outcome>(null);

  const run = (e: FormEvent) => {
    e.preventDefault();
    if (!document) return;
    document.query(sql).then(
      (rows) => setOutcome({ rows }),
      (error: unknown) => setOutcome({ error: error instanceof Error ? error.message : String(error) }),
    );
  };

  return (
    <section className="sql-panel">
      <h2>SQL on the local copy</h2>
      <form onSubmit={run}>
        <textarea data-testid="sql-input" value={sql} onChange={(e) => setSql(e.target.value)} rows={3} spellCheck={false} aria-label="SQL" />
        <button type="submit" data-testid="sql-run" disabled={!document}>
          Run
        </button>
      </form>
      {outcome && 'error' in outcome && (
        <p className="error" data-testid="sql-error">
          {outcome.error}
        </p>
      )}
      {outcome && 'rows' in outcome && <ResultTable rows={outcome.rows} />}
    </section>
  );
}

function ResultTable({ rows }: { rows: Record<string, unknown>[] }) {
  if (rows.length === 0) return <p data-testid="sql-result">No rows.</p>;
  const columns = Object.keys(rows[0]);
  return (
    <table data-testid="sql-result">
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c}>{c}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <tr key={i}>
            {columns.map((c) => (
              <td key={c}>{formatValue(row[c])}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function formatValue(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (value instanceof Uint8Array) return `x'${Array.from(value, (b) => b.toString(16).padStart(2, '0')).join('')}'`;
  return String(value);
}
