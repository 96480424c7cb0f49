"""Parameters of 99_report."""
from ..params import Bool, schema

PARAMS = schema({"show_figures": Bool("embed every notebook's saved figures in the report")})
