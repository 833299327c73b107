"""Indexes for the follow-up report and the admin's home (crm/reports.py): the leads that
arrived or closed since a date (the team's, an agent's), the agents' overdue tasks, and the
stage changes that moved a lead back, which are the only history a report reads. The latter's predicate is
reports._DOWNWARD's text exactly: PostgreSQL uses a partial index only for the same
expression (tests/crm/test_reports.py checks that it does)."""

from django.db import migrations, models

RANK = ("(CASE {column} WHEN 'contacted' THEN 1 WHEN 'appointment' THEN 2 WHEN 'agreement' "
        "THEN 3 WHEN 'under_contract' THEN 4 WHEN 'closed' THEN 5 ELSE 0 END)")
DOWNWARD = f"{RANK.format(column='from_stage')} > {RANK.format(column='to_stage')}"


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0006_today_indexes'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='lead',
            index=models.Index(fields=['created_at'], name='crm_lead_created'),
        ),
        migrations.AddIndex(
            model_name='lead',
            index=models.Index(fields=['agent_id', 'created_at'], name='crm_lead_agent_created'),
        ),
        migrations.AddIndex(
            model_name='lead',
            index=models.Index(condition=models.Q(('closed_at__isnull', False)), fields=['closed_at'], name='crm_lead_closed'),
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(condition=models.Q(('completed_at__isnull', True), models.Q(('channel', 'auto_email'), _negated=True), models.Q(('channel', 'auto_text'), _negated=True)), fields=['due_at'], include=('agent_id',), name='crm_task_overdue'),
        ),
        migrations.RunSQL(
            f"CREATE INDEX crm_stage_change_down ON crm_stagechange (lead_id) WHERE {DOWNWARD}",
            "DROP INDEX crm_stage_change_down",
        ),
    ]
