from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="refund",
            name="razorpay_payment_id",
            field=models.CharField(
                default="",
                help_text="The Razorpay payment refunded (an order can carry a second, duplicate payment).",
                max_length=40,
            ),
            preserve_default=False,
        ),
    ]
