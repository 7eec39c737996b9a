{{ config(materialized='incremental', unique_key='id', incremental_strategy='merge') }}
-- Merged by id: version 2 updates every kept row and adds more ids, so a
-- v1 table merged with v2 rows equals a v2 table built from scratch.
select id, amount * {{ var('version') }} as a
from {{ ref('base') }}
where id % 10 < 5 + {{ var('version') }}
{% if is_incremental() %}
  and id >= (select min(id) from {{ this }})
{% endif %}
