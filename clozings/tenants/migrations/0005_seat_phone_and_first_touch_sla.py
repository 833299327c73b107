from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0004_seat_pause_and_caps'),
    ]

    operations = [
        migrations.AddField(
            model_name='brokerage',
            name='first_touch_sla_minutes',
            field=models.PositiveSmallIntegerField(db_default=5, default=5),
        ),
        migrations.AddField(
            model_name='seat',
            name='phone',
            field=models.CharField(blank=True, db_default='', default='', max_length=20),
        ),
    ]
