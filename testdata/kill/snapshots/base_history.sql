{% snapshot base_history %}
{{ config(unique_key='id', strategy='check', check_cols=['a'], hard_deletes='invalidate') }}
-- Version 2 changes every kept row's `a` and adds ids: its current rows
-- equal a version-2 snapshot taken from scratch.
select id, amount * {{ var('version') }} as a
from {{ ref('base') }}
where id % 10 < 5 + {{ var('version') }}
{% endsnapshot %}
