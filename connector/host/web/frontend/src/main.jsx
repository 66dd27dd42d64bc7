// The web reference host's page: the installed connector's forms rendered by react-jsonschema-form from the schemas
// and UI schemas it ships (found by the server through its manifest), the host's Runtime tab, and the buttons that
// call the connector's hooks through the server: Save, Generate, Test Connection, Browse.
import { useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import Form from "@rjsf/core";
import { customizeValidator } from "@rjsf/validator-ajv8";
import Ajv2020 from "ajv/dist/2020.js";
import { call, forgetTokenInAddressBar } from "./api.js";
import { chosenOptionErrors, errorSchemaFor, highlightUiSchema, parseField, shownField } from "./fields.js";
import { SecretFileWidget, SecretWidget } from "./secrets.jsx";
import { Report } from "./report.jsx";
import { Browser } from "./browse.jsx";
import "./app.css";

// Connectors write JSON Schema 2020-12; ajv's 2020 dialect validates it as the connector's Python side does. Every
// error is kept (rjsf would otherwise keep one of equal messages from several oneOf options, perhaps not the chosen
// option's); transformErrors then keeps the chosen options' errors (chosenOptionErrors).
const validator = customizeValidator({ AjvClass: Ajv2020, suppressDuplicateFiltering: "all" });

// Every password and file input of every tab: a saved secret shows as a placeholder, never as a value.
const WIDGETS = { PasswordWidget: SecretWidget, FileWidget: SecretFileWidget };

const BROWSE_TAB = "browse";

function Status({ status }) {
  if (!status) return <p className="status" role="status" />;
  return (
    <p className={`status ${status.kind}`} role="status" data-kind={status.kind}>
      {status.text}
    </p>
  );
}

function SignIn({ callbackUrl, onGenerate, signIn }) {
  return (
    <section className="sign-in" aria-label="Sign in">
      <h3>Sign in</h3>
      <p>
        Redirect URI to register with the identity provider (authorization code): <code id="callback-url">{callbackUrl}</code>
      </p>
      <p>
        <button type="button" className="btn btn-primary" id="generate" onClick={onGenerate} disabled={signIn?.busy}>
          Generate
        </button>{" "}
        <span className="hint">saves the form, then signs in with its grant and keeps the tokens in the encrypted token store</span>
      </p>
      {signIn?.text && (
        <p className={`status ${signIn.kind}`} id="sign-in-status" data-kind={signIn.kind}>
          {signIn.text}{" "}
          {signIn.url && (
            <a href={signIn.url} target="_blank" rel="noreferrer noopener">
              Open the sign-in page
            </a>
          )}
        </p>
      )}
    </section>
  );
}

function App() {
  const [state, setState] = useState(null);
  const [data, setData] = useState({});
  const [tab, setTab] = useState("connection");
  const [dirty, setDirty] = useState(false);
  const [status, setStatus] = useState(null);
  const [report, setReport] = useState(null);
  const [highlight, setHighlight] = useState(null);
  const [signIn, setSignIn] = useState(null);
  const forms = useRef({});
  const settle = useRef({});
  const highlights = useRef(0);

  useEffect(() => {
    forgetTokenInAddressBar();
    call("/api/state").then((answer) => {
      if (answer.ok === false) return setStatus({ kind: "failed", text: answer.error });
      setState(answer);
      setData(Object.fromEntries(answer.tabs.map((part) => [part.name, part.data || {}])));
    });
  }, []);

  // Which part of the highlighted field its tab shows: the field itself, or, when the chosen sign-in method (or key
  // format) has no such field, its closest shown parent. Followed as the person switches options.
  useEffect(() => {
    if (!highlight || tab !== highlight.tab) return;
    const { path } = shownField(highlight.tab, highlight.path);
    if (highlight.shown === undefined || path.join(".") !== highlight.shown.join(".")) {
      setHighlight({ ...highlight, shown: path });
    }
  }, [highlight, tab, data]);

  // Scroll a new highlight into view once its tab shows it.
  const scrolledTo = useRef(null);
  useEffect(() => {
    if (!highlight || tab !== highlight.tab || highlight.shown === undefined) return;
    if (scrolledTo.current === highlight.id) return;
    scrolledTo.current = highlight.id;
    const { element } = shownField(highlight.tab, highlight.shown);
    if (element) element.scrollIntoView({ block: "center" });
  }, [highlight, tab]);

  if (!state) {
    return (
      <main>
        <Status status={status || { kind: "busy", text: "Loading…" }} />
      </main>
    );
  }
  const tabNames = state.tabs.map((part) => part.name);
  const secretContext = { secretMask: state.secret_mask, fileMask: state.file_mask };

  function showField(field, message) {
    const parsed = parseField(field, tabNames);
    if (!parsed) return;
    const target = parsed.tab || "oauth2";
    highlights.current += 1;
    setHighlight({ ...parsed, tab: target, message, id: highlights.current, shown: undefined });
    setTab(target);
  }

  function showFailure(answer) {
    setStatus({ kind: "failed", text: answer.error || "Failed." });
    if (answer.field) showField(answer.field, answer.error);
  }

  // Submits every tab's form (react-jsonschema-form validates each against its schema and drops what the chosen
  // options do not show), then saves them together. A tab with errors is shown; nothing is saved.
  async function save() {
    setStatus({ kind: "busy", text: "Saving…" });
    const results = await Promise.all(
      tabNames.map(
        (name) =>
          new Promise((resolve) => {
            const form = forms.current[name];
            if (!form) return resolve({ name, ok: true, data: data[name] });
            settle.current[name] = resolve;
            form.submit();
          }),
      ),
    );
    settle.current = {};
    const invalid = results.find((result) => !result.ok);
    if (invalid) {
      setTab(invalid.name);
      setStatus({ kind: "failed", text: `Not saved: correct the fields marked on the ${titleOf(invalid.name)} tab.` });
      return false;
    }
    const submitted = Object.fromEntries(results.map((result) => [result.name, result.data || {}]));
    const answer = await call("/api/save", submitted);
    if (!answer.ok) {
      showFailure(answer);
      return false;
    }
    setData((current) => ({ ...current, ...answer.data }));
    setDirty(false);
    setHighlight(null);
    setStatus({ kind: "ok", text: answer.message });
    return true;
  }

  function titleOf(name) {
    const part = state.tabs.find((item) => item.name === name);
    return part ? part.title : name;
  }

  async function saveIfChanged() {
    return dirty || !state.saved ? save() : true;
  }

  async function testConnection() {
    if (!(await saveIfChanged())) return;
    setStatus({ kind: "busy", text: "Testing the connection…" });
    setReport(null);
    const answer = await call("/api/test", {});
    if (!answer.report) return showFailure(answer);
    setReport(answer.report);
    const failed = answer.report.checks.find((check) => check.status === "failed" && check.field);
    if (failed) showField(failed.field, failed.message);
    else setHighlight(null);
    setStatus(
      answer.report.ok
        ? { kind: "ok", text: "Test Connection passed." }
        : { kind: "failed", text: "Test Connection failed: see the report below." },
    );
  }

  async function generate() {
    if (!(await saveIfChanged())) return;
    setSignIn({ busy: true, kind: "busy", text: "Signing in…" });
    const answer = await call("/api/authorize", {});
    if (!answer.ok) {
      setSignIn({ kind: "failed", text: answer.error });
      if (answer.field) showField(answer.field, answer.error);
      return;
    }
    if (answer.kind === "tokens") {
      setSignIn({ kind: "ok", text: answer.message });
      return;
    }
    const popup = window.open(answer.url, "connector-sign-in", "popup,width=600,height=760");
    setSignIn({
      busy: true,
      kind: "busy",
      text: popup ? "Sign in and consent in the window that opened…" : "Your browser blocked the window:",
      url: answer.url,
    });
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 700));
      const progress = await call(`/api/authorize/status?state=${encodeURIComponent(answer.state)}`);
      if (!progress.done) continue;
      if (progress.ok) setSignIn({ kind: "ok", text: progress.message });
      else {
        setSignIn({ kind: "failed", text: progress.error });
        if (progress.field) showField(progress.field, progress.error);
      }
      return;
    }
  }

  function formFor(part) {
    const focused = highlight && highlight.tab === part.name;
    const marked = focused ? highlight.shown || highlight.path : null;
    const uiSchema = marked ? highlightUiSchema(part.schema, part.ui_schema, marked) : part.ui_schema || {};
    const extraErrors = marked && highlight.message ? errorSchemaFor(marked, highlight.message) : undefined;
    const finish = (result) => {
      const resolve = settle.current[part.name];
      if (resolve) {
        delete settle.current[part.name];
        resolve({ name: part.name, ...result });
      }
    };
    return (
      <Form
        ref={(form) => {
          forms.current[part.name] = form;
        }}
        schema={part.schema}
        uiSchema={uiSchema}
        validator={validator}
        widgets={WIDGETS}
        formContext={secretContext}
        formData={data[part.name]}
        idPrefix={part.name}
        idSeparator="."
        extraErrors={extraErrors}
        transformErrors={chosenOptionErrors(part.name)}
        showErrorList={false}
        noHtml5Validate
        omitExtraData
        onChange={(event, fieldId) => {
          setData((current) => ({ ...current, [part.name]: event.formData }));
          // Without a field id the change is the form filling in defaults, not the person typing.
          if (fieldId !== undefined) setDirty(true);
        }}
        onSubmit={(event) => finish({ ok: true, data: event.formData })}
        onError={(errors) => finish({ ok: false, errors })}
      >
        <></>
      </Form>
    );
  }

  const tabs = [...state.tabs.map((part) => ({ name: part.name, title: part.title })), { name: BROWSE_TAB, title: "Browse" }];
  return (
    <main>
      <header>
        <h1>{state.connector.name}</h1>
        <p className="meta">
          <span>
            connector <code>{state.connector.id}</code> {state.connector.version}
          </span>
          <span>
            config <code id="config-path">{state.config_path}</code>
          </span>
        </p>
      </header>
      <nav className="tabs" role="tablist">
        {tabs.map((item) => (
          <button
            key={item.name}
            type="button"
            role="tab"
            id={`tab-${item.name}`}
            aria-selected={tab === item.name}
            className={tab === item.name ? "tab active" : "tab"}
            onClick={() => setTab(item.name)}
          >
            {item.title}
          </button>
        ))}
      </nav>
      {state.tabs.map((part) => (
        <section key={part.name} role="tabpanel" id={`panel-${part.name}`} hidden={tab !== part.name} className="panel">
          {formFor(part)}
          {part.name === "oauth2" && <SignIn callbackUrl={state.callback_url} onGenerate={generate} signIn={signIn} />}
        </section>
      ))}
      <section role="tabpanel" id={`panel-${BROWSE_TAB}`} hidden={tab !== BROWSE_TAB} className="panel">
        <Browser beforeCall={saveIfChanged} onError={showFailure} />
      </section>
      <div className="actions">
        <button type="button" className="btn btn-primary" id="save" onClick={save}>
          Save
        </button>
        <button type="button" className="btn" id="test-connection" onClick={testConnection}>
          Test Connection
        </button>
        {dirty && <span className="hint">unsaved changes</span>}
      </div>
      <Status status={status} />
      {report && <Report report={report} onField={showField} />}
    </main>
  );
}

createRoot(document.getElementById("app")).render(<App />);
