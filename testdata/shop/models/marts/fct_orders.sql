{{ config(alias='orders') }}
with flags as (
    select * from {{ ref('int_order_status') }}
)
select o.*, f.is_completed, f.is_returned, {{ dbt.date_trunc('month', 'o.ordered_at') }} as order_month
from {{ ref('stg_orders') }} as o
join flags as f using (order_id)
