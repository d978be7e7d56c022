"""Workers: claim an app+environment, observe AWS, plan, apply one step, record, requeue."""
