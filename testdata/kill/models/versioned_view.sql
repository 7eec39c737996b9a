{{ config(materialized='view') }}
-- Its definition changes with the version; base does not.
select id, amount * {{ var('version') }} + 1 as a from {{ ref('base') }}
