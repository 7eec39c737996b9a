select 1 as id
from {{ env_var("KILN_BAD_UNSET_TABLE") }}
