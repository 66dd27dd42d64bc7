// Secret fields. The server sends a saved secret as its mask ("***", or a data URL named "saved-secret" for a
// `format: data-url` upload) and reads a submitted mask as "unchanged". These widgets replace rjsf's password and file
// widgets so that a saved secret is drawn as an empty field with a placeholder (typing starts a new value instead of
// appending to the mask), emptying the field again keeps the saved secret, and "Remove" deletes it. What a person
// types is never written into the page's HTML (no `value` attribute), and a file's content is never shown.
import { useLayoutEffect, useRef, useState } from "react";
import { getDefaultRegistry } from "@rjsf/core";
import { ariaDescribedByIds } from "@rjsf/utils";

const SAVED_PLACEHOLDER = "•••••••• saved; type a new value to replace it";
const { FileWidget } = getDefaultRegistry().widgets;

function masksOf(registry) {
  const context = registry.formContext || {};
  return [context.secretMask, context.fileMask].filter((mask) => typeof mask === "string" && mask !== "");
}

// Whether the field holds a saved secret, remembered after the person starts typing over it, until removed.
function useSaved(value, registry) {
  const saved = masksOf(registry).includes(value);
  const [mask, setMask] = useState(saved ? value : null);
  if (saved && mask !== value) setMask(value);
  return { saved, mask, forget: () => setMask(null) };
}

function RemoveSaved({ onRemove, what }) {
  return (
    <button type="button" className="link remove-saved" onClick={onRemove}>
      Remove the saved {what}
    </button>
  );
}

// A password input left uncontrolled by React (a controlled one gets its value copied into the `value` attribute, also
// while the person types) and kept in step with the form's value by setting its `value` property after each render.
export function SecretWidget(props) {
  const { id, htmlName, value, onChange, onBlur, onFocus, registry, options, placeholder } = props;
  const { disabled, readonly, autofocus, required, schema } = props;
  const { saved, mask, forget } = useSaved(value, registry);
  const input = useRef(null);
  const shown = saved || value == null ? "" : String(value);
  useLayoutEffect(() => {
    if (input.current && input.current.value !== shown) input.current.value = shown;
  });
  const change = (event) => {
    const typed = event.target.value;
    onChange(typed === "" ? (mask ?? options.emptyValue) : typed);
  };
  return (
    <>
      <input
        ref={input}
        id={id}
        name={htmlName || id}
        type="password"
        className="form-control"
        defaultValue=""
        placeholder={mask !== null ? SAVED_PLACEHOLDER : placeholder}
        autoComplete={options.autocomplete || "new-password"}
        required={required && !saved}
        disabled={disabled}
        readOnly={readonly}
        autoFocus={autofocus}
        minLength={schema.minLength}
        maxLength={schema.maxLength}
        onChange={change}
        onBlur={(event) => onBlur(id, event.target.value)}
        onFocus={(event) => onFocus(id, event.target.value)}
        aria-describedby={ariaDescribedByIds(id)}
      />
      {saved && (
        <RemoveSaved
          what="secret"
          onRemove={() => {
            forget();
            onChange(options.emptyValue);
          }}
        />
      )}
    </>
  );
}

export function SecretFileWidget(props) {
  const { value, onChange, registry, options } = props;
  const { saved, mask, forget } = useSaved(value, registry);
  if (!saved) {
    // A file removed from the list after replacing a saved one gives the saved one back.
    const change = (file) => onChange(file === undefined && mask !== null ? mask : file);
    return <FileWidget {...props} onChange={change} />;
  }
  return (
    <div className="saved-file">
      <FileWidget {...props} value={undefined} required={false} />
      <p className="saved-secret">
        A file is saved (its content stays on the server). Choose a file to replace it, or{" "}
        <RemoveSaved
          what="file"
          onRemove={() => {
            forget();
            onChange(options.emptyValue);
          }}
        />
        .
      </p>
    </div>
  );
}
