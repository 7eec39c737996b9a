{#- Date and time helpers. Dateparts are plain words: year, quarter, month,
    week, day, hour, minute, second. Arguments named date/first_date/... are
    SQL expressions (a column, or a quoted literal). -#}

{#- date_trunc: the start of the datepart that contains date. -#}
{% macro date_trunc(datepart, date) -%}
  {{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}
{%- endmacro %}

{% macro default__date_trunc(datepart, date) -%}
  date_trunc('{{ datepart | lower | trim }}', {{ date }})
{%- endmacro %}


{#- dateadd: from_date_or_timestamp moved by interval (an integer expression)
    dateparts. The result is a timestamp on both Postgres and DuckDB. Neither
    accepts "quarter" in an interval literal, so quarters become 3 months. -#}
{% macro dateadd(datepart, interval, from_date_or_timestamp) -%}
  {{ return(adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp)) }}
{%- endmacro %}

{% macro default__dateadd(datepart, interval, from_date_or_timestamp) -%}
  {%- set part = datepart | lower | trim -%}
  {%- set step = 1 -%}
  {%- if part == 'quarter' -%}
    {%- set part = 'month' -%}
    {%- set step = 3 -%}
  {%- endif -%}
  ({{ from_date_or_timestamp }} + ((interval '{{ step }} {{ part }}') * ({{ interval }})))
{%- endmacro %}


{#- datediff: how many datepart boundaries lie between first_date and
    second_date (negative when second_date is earlier), as a bigint. Weeks
    start on Monday, as date_trunc('week', ...) does on both databases. -#}
{% macro datediff(first_date, second_date, datepart) -%}
  {{ return(adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart)) }}
{%- endmacro %}

{% macro default__datediff(first_date, second_date, datepart) -%}
  cast({{ dbt._kiln_datediff(first_date, second_date, datepart | lower | trim) }} as bigint)
{%- endmacro %}

{#- DuckDB's date_diff counts boundaries for every part but week, where it
    counts whole 7-day spans instead. -#}
{% macro duckdb__datediff(first_date, second_date, datepart) -%}
  {%- set part = datepart | lower | trim -%}
  {%- if part == 'week' -%}
    {{ dbt.default__datediff(first_date, second_date, part) }}
  {%- else -%}
    date_diff('{{ part }}', cast({{ first_date }} as timestamp), cast({{ second_date }} as timestamp))
  {%- endif -%}
{%- endmacro %}

{#- _kiln_datediff builds the difference from calendar fields: each part is
    the next larger part's difference scaled, plus the difference of its own
    field. -#}
{% macro _kiln_datediff(a, b, part) -%}
  {%- set date_a = 'cast(' ~ a ~ ' as date)' -%}
  {%- set date_b = 'cast(' ~ b ~ ' as date)' -%}
  {%- set ts_a = 'cast(' ~ a ~ ' as timestamp)' -%}
  {%- set ts_b = 'cast(' ~ b ~ ' as timestamp)' -%}
  {%- if part == 'year' -%}
    (extract(year from {{ date_b }}) - extract(year from {{ date_a }}))
  {%- elif part == 'quarter' -%}
    ({{ dbt._kiln_datediff(a, b, 'year') }} * 4 + extract(quarter from {{ date_b }}) - extract(quarter from {{ date_a }}))
  {%- elif part == 'month' -%}
    ({{ dbt._kiln_datediff(a, b, 'year') }} * 12 + extract(month from {{ date_b }}) - extract(month from {{ date_a }}))
  {%- elif part == 'week' -%}
    ((cast(date_trunc('week', {{ date_b }}) as date) - cast(date_trunc('week', {{ date_a }}) as date)) / 7)
  {%- elif part == 'day' -%}
    ({{ date_b }} - {{ date_a }})
  {%- elif part == 'hour' -%}
    ({{ dbt._kiln_datediff(a, b, 'day') }} * 24 + extract(hour from {{ ts_b }}) - extract(hour from {{ ts_a }}))
  {%- elif part == 'minute' -%}
    ({{ dbt._kiln_datediff(a, b, 'hour') }} * 60 + extract(minute from {{ ts_b }}) - extract(minute from {{ ts_a }}))
  {%- elif part == 'second' -%}
    ({{ dbt._kiln_datediff(a, b, 'minute') }} * 60 + floor(extract(second from {{ ts_b }})) - floor(extract(second from {{ ts_a }})))
  {%- else -%}
    {{ exceptions.raise_compiler_error("datediff: unsupported datepart '" ~ part ~ "' (use year, quarter, month, week, day, hour, minute or second)") }}
  {%- endif -%}
{%- endmacro %}


{#- last_day: the last date of the datepart (month, quarter, year, ...) that
    contains date, as a date. -#}
{% macro last_day(date, datepart) -%}
  {{ return(adapter.dispatch('last_day', 'dbt')(date, datepart)) }}
{%- endmacro %}

{% macro default__last_day(date, datepart) -%}
  cast({{ dbt.dateadd('day', '-1', dbt.dateadd(datepart, '1', dbt.date_trunc(datepart, date))) }} as date)
{%- endmacro %}


{#- current_timestamp: the current time, with time zone. -#}
{% macro current_timestamp() -%}
  {{ return(adapter.dispatch('current_timestamp', 'dbt')()) }}
{%- endmacro %}

{% macro default__current_timestamp() -%}
  current_timestamp
{%- endmacro %}
