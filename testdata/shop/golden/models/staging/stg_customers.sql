select id as customer_id, name, zip, vip
from "shop"."analytics"."raw_customers"
