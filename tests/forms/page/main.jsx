// A bare react-jsonschema-form host: renders one schema with its UI schema, exactly as shipped, with rjsf's own
// validator (on Ajv2020) and no custom widgets, fields or templates. The test page sets window.FORM_SETUP before this script runs:
// {"schema": ..., "uiSchema": ...}. What the form submits goes to window.formSubmitted; validation errors on submit
// go to window.formErrors;
// the data as it changes, to window.formData.
import { createRoot } from "react-dom/client";
import Form from "@rjsf/core";
import { customizeValidator } from "@rjsf/validator-ajv8";
import Ajv2020 from "ajv/dist/2020.js";

// The schemas are JSON Schema 2020-12: rjsf's documented switch to Ajv2020.
const validator = customizeValidator({ AjvClass: Ajv2020 });
const { schema, uiSchema } = window.FORM_SETUP;
window.formSubmitted = null;
window.formErrors = null;

createRoot(document.getElementById("root")).render(
  <Form
    schema={schema}
    uiSchema={uiSchema}
    validator={validator}
    onChange={({ formData }) => {
      window.formData = formData;
    }}
    onSubmit={({ formData }) => {
      window.formErrors = null;
      window.formSubmitted = formData;
    }}
    onError={(errors) => {
      window.formErrors = errors.map((error) => `${error.property} ${error.message}`);
    }}
  />,
);
