{#- Aggregate helpers. -#}

{#- any_value: some value of expression from the group. Postgres 15 has no
    any_value, so it takes the minimum there. -#}
{% macro any_value(expression) -%}
  {{ return(adapter.dispatch('any_value', 'dbt')(expression)) }}
{%- endmacro %}

{% macro default__any_value(expression) -%}
  any_value({{ expression }})
{%- endmacro %}

{% macro postgres__any_value(expression) -%}
  min({{ expression }})
{%- endmacro %}


{#- bool_or: true when expression is true for any row of the group. -#}
{% macro bool_or(expression) -%}
  {{ return(adapter.dispatch('bool_or', 'dbt')(expression)) }}
{%- endmacro %}

{% macro default__bool_or(expression) -%}
  bool_or({{ expression }})
{%- endmacro %}


{#- listagg: the group's measure values joined by delimiter_text (a SQL
    expression, "','" by default). order_by_clause is a whole clause such as
    "order by id"; limit_num keeps only the first values. -#}
{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}
  {{ return(adapter.dispatch('listagg', 'dbt')(measure, delimiter_text, order_by_clause, limit_num)) }}
{%- endmacro %}

{% macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  {%- set order = (' ' ~ order_by_clause) if order_by_clause else '' -%}
  {%- if limit_num -%}
    array_to_string((array_agg({{ measure }}{{ order }}))[1:{{ limit_num }}], {{ delimiter_text }})
  {%- else -%}
    string_agg({{ measure }}, {{ delimiter_text }}{{ order }})
  {%- endif -%}
{%- endmacro %}
