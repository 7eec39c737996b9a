{% macro non_negative(column) -%}
    greatest({{ column }}, {{ var('min_amount') }})
{%- endmacro %}

{% macro status_list() %}
    {{ return(var('statuses')) }}
{% endmacro %}
