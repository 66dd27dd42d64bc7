"""The shipped JSON Schemas and UI schemas as hosts read them: ajv and Python agree, rjsf renders them."""
