-- Every payment belongs to an order, and order totals add up to payments.
select p.order_id
from {{ ref('stg_payments') }} as p
left join {{ ref('orders') }} as o using (order_id)
group by p.order_id, o.amount
having o.amount is null or o.amount <> sum(p.amount)
