{% macro cents_to_currency(col) %}({{ col }} / 100.0){% endmacro %}
