// A Test Connection report, check by check, in the order the connector ran them.
const LABELS = { passed: "PASS", failed: "FAIL", warning: "WARN", skipped: "SKIP" };

export function Report({ report, onField }) {
  const counts = Object.entries(report.summary || {})
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${status}`)
    .join(", ");
  return (
    <section className="report" aria-label="Test Connection report" data-ok={String(report.ok)}>
      <h2 className={report.ok ? "verdict ok" : "verdict failed"}>
        {report.ok ? "Test Connection passed" : "Test Connection failed"}
        <small>
          {counts} · {(report.duration_ms / 1000).toFixed(2)} s
        </small>
      </h2>
      <ol className="checks">
        {report.checks.map((check) => (
          <li key={check.name} className={`check ${check.status}`} data-check={check.name} data-status={check.status}>
            <div className="check-head">
              <span className={`badge ${check.status}`}>{LABELS[check.status] || check.status}</span>
              <strong>{check.title}</strong>
              {check.status !== "skipped" && <span className="duration">{Math.round(check.duration_ms)} ms</span>}
            </div>
            <p className="check-message">{check.message}</p>
            {check.field && (
              <p className="check-field">
                Field to fix:{" "}
                <button type="button" className="link" onClick={() => onField(check.field, check.message)}>
                  {check.field}
                </button>
              </p>
            )}
            {check.remediation && <p className="remediation">{check.remediation}</p>}
            {Object.keys(check.details || {}).length > 0 && (
              <dl className="details">
                {Object.entries(check.details).map(([key, value]) => (
                  <div key={key}>
                    <dt>{key}</dt>
                    <dd>{value}</dd>
                  </div>
                ))}
              </dl>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
