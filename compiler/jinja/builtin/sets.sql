{#- Set operators, arrays and series. -#}

{#- intersect / except: the set operator keyword, for
    "select ... {{ intersect() }} select ...". -#}
{% macro intersect() -%}
  {{ return(adapter.dispatch('intersect', 'dbt')()) }}
{%- endmacro %}

{% macro default__intersect() -%}
  intersect
{%- endmacro %}


{% macro except() -%}
  {{ return(adapter.dispatch('except', 'dbt')()) }}
{%- endmacro %}

{% macro default__except() -%}
  except
{%- endmacro %}


{#- array_construct: an array of inputs (a list of SQL expressions). An empty
    list gives an empty array of data_type (type_int() by default). -#}
{% macro array_construct(inputs=[], data_type=none) -%}
  {{ return(adapter.dispatch('array_construct', 'dbt')(inputs, data_type)) }}
{%- endmacro %}

{% macro default__array_construct(inputs, data_type) -%}
  {%- if inputs -%}
    array[{{ inputs | join(', ') }}]
  {%- elif data_type -%}
    cast(array[] as {{ data_type }}[])
  {%- else -%}
    cast(array[] as {{ dbt.type_int() }}[])
  {%- endif -%}
{%- endmacro %}


{#- generate_series: a query whose one column, generated_number, holds
    1 .. upper_bound. Use it as a subquery. -#}
{% macro generate_series(upper_bound) -%}
  {{ return(adapter.dispatch('generate_series', 'dbt')(upper_bound)) }}
{%- endmacro %}

{% macro default__generate_series(upper_bound) -%}
  select generated_number from generate_series(1, {{ upper_bound }}) as series(generated_number)
{%- endmacro %}
