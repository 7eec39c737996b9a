
with __dbt__cte__int_order_status as (
select
    order_id,
    case when status = 'placed' then 1 else 0 end as is_placed,
    case when status = 'shipped' then 1 else 0 end as is_shipped,
    case when status = 'completed' then 1 else 0 end as is_completed,
    case when status = 'returned' then 1 else 0 end as is_returned
    
from "shop"."analytics"."stg_orders"
), flags as (
    select * from __dbt__cte__int_order_status
)
select o.*, f.is_completed, f.is_returned, date_trunc('month', o.ordered_at) as order_month
from "shop"."analytics"."stg_orders" as o
join flags as f using (order_id)
