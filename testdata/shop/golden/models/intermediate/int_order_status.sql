select
    order_id,
    case when status = 'placed' then 1 else 0 end as is_placed,
    case when status = 'shipped' then 1 else 0 end as is_shipped,
    case when status = 'completed' then 1 else 0 end as is_completed,
    case when status = 'returned' then 1 else 0 end as is_returned
    
from "shop"."analytics"."stg_orders"
