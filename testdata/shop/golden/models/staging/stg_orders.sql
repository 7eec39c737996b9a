-- orders as loaded
select
    id as order_id,
    customer_id,
    ordered_at,
    status,
    greatest(amount, 0) as amount
from "shop"."analytics"."raw_orders"
