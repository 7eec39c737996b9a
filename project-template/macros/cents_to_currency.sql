{% macro cents_to_currency(column, scale=2) -%}
    round(cast({{ column }} as numeric) / 100, {{ scale }})
{%- endmacro %}
