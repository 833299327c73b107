"""The CRM's API on a brokerage host: leads, their activities, stages and cadence, tasks,
and the brokerage's cadences. Agents see and act on their own leads only; admins on the
brokerage's (clozings.tenants.scoping). Another agent's lead, or an id that is not one,
is 404 `not_found` alike.

The platform host has its own `GET /api/v1/leads/<id>` for lead sources (distribution);
these routes exist on brokerage hosts only.
"""

from __future__ import annotations

from django.http import Http404
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from clozings.crm import scripts, selectors, services
from clozings.crm.models import Activity, Cadence, Channel, Lead, Task
from clozings.platform.api import MAX_ID, error_responses
from clozings.platform.errors import Forbidden
from clozings.tenants.models import Seat
from clozings.tenants.scoping import SeatScopedApiView
from clozings.tenants.validators import validate_name_characters

ADMINS_ONLY = "Only an admin of this brokerage can change cadences."


# --- output ---------------------------------------------------------------------------------
class CrmTaskOutput(serializers.Serializer):
    id = serializers.IntegerField()
    lead_id = serializers.IntegerField()
    agent_id = serializers.IntegerField()
    title = serializers.CharField()
    channel = serializers.ChoiceField(Channel.choices)
    automated = serializers.BooleanField(source="is_automated",
                                         help_text="Sent by the worker, not the agent.")
    step_id = serializers.IntegerField(allow_null=True)
    due_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    not_before = serializers.DateTimeField(
        allow_null=True, help_text="An automated step held back by the contact rules.")
    hold_reason = serializers.CharField()
    skipped_reason = serializers.CharField()


class CrmTaskWithScript(CrmTaskOutput):
    script = serializers.CharField(help_text="What to say or send, merged for this lead.")
    subject = serializers.CharField(help_text="For emails: the subject, merged.")


class CrmTaskListItem(CrmTaskOutput):
    lead_name = serializers.CharField()
    lead_phone = serializers.CharField()
    lead_email = serializers.CharField()
    lead_stage = serializers.ChoiceField(Lead.Stage.choices)


class CrmActivityOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(Activity.Kind.choices)
    outcome = serializers.CharField(help_text="connected, voicemail, no_answer, replied, "
                                              "bad_number, or empty.")
    note = serializers.CharField()
    by_id = serializers.IntegerField(allow_null=True)
    automated = serializers.BooleanField()
    inbound = serializers.BooleanField()
    subject = serializers.CharField()
    body = serializers.CharField()
    task_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class CrmStageChangeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    from_stage = serializers.CharField()
    to_stage = serializers.CharField()
    by_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    sale_price_cents = serializers.IntegerField(allow_null=True)
    commission_cents = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class CrmCadenceRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CrmLeadSummary(serializers.Serializer):
    id = serializers.IntegerField()
    agent_id = serializers.IntegerField()
    inbound_lead_id = serializers.IntegerField(allow_null=True)
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField(help_text="E.164.")
    zip_code = serializers.CharField()
    stage = serializers.ChoiceField(Lead.Stage.choices)
    stage_changed_at = serializers.DateTimeField()
    touch_count = serializers.IntegerField()
    last_touch_at = serializers.DateTimeField(allow_null=True)
    first_touch_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_inquiry_at = serializers.DateTimeField()
    source_name = serializers.CharField()


class CrmLeadDetail(CrmLeadSummary):
    intent = serializers.CharField()
    price_min_cents = serializers.IntegerField(allow_null=True)
    price_max_cents = serializers.IntegerField(allow_null=True)
    timeframe = serializers.CharField()
    message = serializers.CharField()
    campaign = serializers.CharField()
    time_zone = serializers.CharField(help_text="Of the lead's ZIP.")
    area = serializers.CharField(help_text="City, ST of the lead's ZIP.")
    lost_reason = serializers.CharField()
    sale_price_cents = serializers.IntegerField(allow_null=True)
    commission_cents = serializers.IntegerField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    cadence = CrmCadenceRef(allow_null=True)
    cadence_state = serializers.CharField(help_text="active, paused, finished, or empty.")
    opted_out_at = serializers.DateTimeField(allow_null=True)
    next_task = CrmTaskWithScript(allow_null=True, source="next_task_scripted")
    activities = CrmActivityOutput(many=True, source="timeline_activities",
                                   help_text="Newest first (the latest 200).")
    stage_changes = CrmStageChangeOutput(many=True, source="timeline_stage_changes",
                                         help_text="Newest first.")


class CrmLeadPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CrmLeadSummary(many=True)


class CrmTaskPage(CrmLeadPage):
    results = CrmTaskListItem(many=True)


class CrmActivityCreated(CrmActivityOutput):
    next_task = CrmTaskWithScript(allow_null=True, help_text="The lead's next task now.")


class CrmNextTask(serializers.Serializer):
    next_task = CrmTaskWithScript(allow_null=True)


class CrmStepSerializer(serializers.Serializer):
    offset_minutes = serializers.IntegerField(min_value=0,
                                              max_value=services.MAX_OFFSET_MINUTES,
                                              help_text="After enrolment.")
    channel = serializers.ChoiceField(Channel.choices)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                  default="", validators=[validate_name_characters])
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                    default="", validators=[validate_name_characters])
    template = serializers.CharField(
        max_length=services.TEMPLATE_MAX, required=False, allow_blank=True, default="",
        help_text="Merge fields: {first_name} {last_name} {full_name} {agent_name} "
                  "{brokerage_name} {area} {zip_code} {price_range} {since_last_touch}.")


class CrmCadenceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    purpose = serializers.ChoiceField(Cadence.Purpose.choices)
    is_default = serializers.BooleanField()
    updated_at = serializers.DateTimeField()
    steps = CrmStepSerializer(many=True)


# --- input ----------------------------------------------------------------------------------
class CrmPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class LeadQuery(serializers.Serializer):
    stage = serializers.ChoiceField(Lead.Stage.choices, required=False)
    q = serializers.CharField(required=False, max_length=100,
                              help_text="Part of the name, email or phone.")
    page = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)


class LeadCreateInput(serializers.Serializer):
    agent_id = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID,
        help_text="Whose lead it is (admins: any active seat; agents: their own).")
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    zip_code = serializers.CharField(max_length=5, required=False, allow_blank=True)
    intent = serializers.ChoiceField(["buy", "sell", "both"], required=False)
    price_min_cents = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                               max_value=services.MAX_CENTS)
    price_max_cents = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                               max_value=services.MAX_CENTS)
    timeframe = serializers.CharField(max_length=100, required=False, allow_blank=True)
    message = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class LeadContactInput(serializers.Serializer):
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    zip_code = serializers.CharField(max_length=5, required=False, allow_blank=True)


class ActivityInput(serializers.Serializer):
    kind = serializers.ChoiceField([k for k in Activity.Kind.values
                                    if k != Activity.Kind.INQUIRY])
    outcome = serializers.ChoiceField(Activity.Outcome.choices, required=False,
                                      allow_null=True, allow_blank=True)
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True,
                                 default="")


class StageInput(serializers.Serializer):
    stage = serializers.ChoiceField(services.CHOOSABLE_STAGES)
    sale_price_cents = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                                max_value=services.MAX_CENTS)
    commission_cents = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                                max_value=services.MAX_CENTS)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                   default="")


class CadenceChoiceInput(serializers.Serializer):
    cadence_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class TaskQuery(serializers.Serializer):
    due = serializers.ChoiceField(
        ["today", "overdue", "upcoming"], required=False,
        help_text="In your time zone: due today, due before today, due after today. "
                  "Without it: every open task, soonest first.")
    page = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)


class CadenceInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, validators=[validate_name_characters])
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True,
                                        default="")
    purpose = serializers.ChoiceField(Cadence.Purpose.choices, required=False,
                                      default=Cadence.Purpose.FOLLOW_UP)
    is_default = serializers.BooleanField(required=False, default=False)
    steps = CrmStepSerializer(many=True, allow_empty=False, max_length=services.MAX_STEPS)


# --- helpers --------------------------------------------------------------------------------
def _scripted(task: Task | None, lead: Lead, request) -> Task | None:
    """The task with `script` and `subject` set: what to say, merged for this lead."""
    if task is None:
        return None
    agent = Seat.objects.filter(pk=lead.agent_id).only("name", "email").first()
    context = {"agent_name": (agent.name or agent.email) if agent else "",
               "brokerage_name": request.brokerage.name, "now": timezone.now()}
    task.script = scripts.script_for(task, lead, **context)
    task.subject = (scripts.subject_for(task, lead, **context)
                    if task.channel in (Channel.EMAIL, Channel.AUTO_EMAIL) else "")
    return task


def lead_detail(lead: Lead, request) -> dict:
    timeline = selectors.lead_timeline(lead=lead)
    lead.area = scripts.area_of(lead.zip_code)
    lead.next_task_scripted = _scripted(timeline["next_task"], lead, request)
    lead.timeline_activities = timeline["activities"]
    lead.timeline_stage_changes = timeline["stage_changes"]
    return CrmLeadDetail(lead).data


class CrmApi(SeatScopedApiView):
    def get_lead(self, lead_id: int) -> Lead:
        lead = selectors.visible_lead(viewer=self.caller(), lead_id=lead_id)
        if lead is None:
            raise Http404("Not found.")
        return lead


# --- leads ----------------------------------------------------------------------------------
class LeadListCreateApi(CrmApi):
    """Your leads (an admin: the brokerage's), and a lead entered by hand."""

    @extend_schema(operation_id="crm_leads_list", parameters=[LeadQuery],
                   responses={200: CrmLeadPage, **error_responses(400, 401, 403, 404)})
    def get(self, request):
        query = self.parse(LeadQuery, request)
        leads = selectors.visible_leads(viewer=self.caller(), stage=query.get("stage"),
                                        q=query.get("q", ""))
        paginator = CrmPagination()
        page = paginator.paginate_queryset(leads, request, view=self)
        return paginator.get_paginated_response(CrmLeadSummary(page, many=True).data)

    @extend_schema(
        operation_id="crm_leads_create", request=LeadCreateInput,
        description="A lead entered by hand: enrolled in the default cadence, its first "
                    "task due at once. A phone or an email is needed.",
        responses={201: CrmLeadDetail, **error_responses(400, 401, 403, 413, 415)})
    def post(self, request):
        data = dict(self.parse(LeadCreateInput, request))
        agent = self.acting_seat(data.pop("agent_id", None))
        lead = services.create_lead(by=self.caller(), agent=agent, fields=data)
        return Response(lead_detail(lead, request), status=201)


class LeadDetailApi(CrmApi):
    """One lead: its timeline, stage history and next task with what to say."""

    @extend_schema(operation_id="crm_leads_read",
                   responses={200: CrmLeadDetail, **error_responses(401, 403, 404)})
    def get(self, request, lead_id: int):
        return Response(lead_detail(self.get_lead(lead_id), request))

    @extend_schema(
        operation_id="crm_leads_update_contact", request=LeadContactInput,
        description="Correct the contact details; the fields sent replace the lead's.",
        responses={200: CrmLeadDetail, **error_responses(400, 401, 403, 404, 413, 415)})
    def patch(self, request, lead_id: int):
        lead = self.get_lead(lead_id)
        data = self.parse(LeadContactInput, request)
        fields = {name: data.get(name, getattr(lead, name)) for name in
                  ("first_name", "last_name", "email", "phone", "zip_code")}
        lead = services.update_contact(lead=lead, by=self.caller(), **fields)
        return Response(lead_detail(lead, request))


class LeadActivityApi(CrmApi):
    @extend_schema(
        operation_id="crm_leads_log_activity", request=ActivityInput,
        description="Log a touch (call, text, email, meeting) or a note. A touch completes "
                    "the lead's personal task and schedules the next step.",
        responses={201: CrmActivityCreated, **error_responses(400, 401, 403, 404, 413, 415)})
    def post(self, request, lead_id: int):
        lead = self.get_lead(lead_id)
        data = self.parse(ActivityInput, request)
        activity = services.log_activity(lead=lead, by=self.caller(), kind=data["kind"],
                                         outcome=data.get("outcome") or "", note=data["note"])
        lead.refresh_from_db()
        activity.next_task = _scripted(activity.next_task, lead, request)
        return Response(CrmActivityCreated(activity).data, status=201)


class LeadStageApi(CrmApi):
    @extend_schema(
        operation_id="crm_leads_change_stage", request=StageInput,
        description="Move the lead to a stage. `closed` needs `sale_price_cents` and "
                    "`commission_cents`; `lost` needs a `reason`.",
        responses={200: CrmLeadDetail, **error_responses(
            400, 401, 403, 404, 409, 413, 415,
            s409="`same_stage`: the lead is already there; `lead_reassigned`: it went to "
                 "another agent.")})
    def post(self, request, lead_id: int):
        lead = self.get_lead(lead_id)
        data = self.parse(StageInput, request)
        services.change_stage(lead=lead, by=self.caller(), stage=data["stage"],
                              sale_price_cents=data.get("sale_price_cents"),
                              commission_cents=data.get("commission_cents"),
                              reason=data["reason"])
        lead.refresh_from_db()
        return Response(lead_detail(lead, request))


class LeadCadenceApi(CrmApi):
    @extend_schema(
        operation_id="crm_leads_switch_cadence", request=CadenceChoiceInput,
        description="Enrol the lead in another cadence, from its first step.",
        responses={200: CrmLeadDetail, **error_responses(
            400, 401, 403, 404, 409, 413, 415,
            s409="`lead_not_open`: a closed or lost lead follows no cadence.")})
    def post(self, request, lead_id: int):
        lead = self.get_lead(lead_id)
        data = self.parse(CadenceChoiceInput, request)
        cadence = selectors.cadence_of(cadence_id=data["cadence_id"])
        if cadence is None:
            raise serializers.ValidationError({"cadence_id": ["There is no such cadence."]})
        services.switch_cadence(lead=lead, by=self.caller(), cadence=cadence)
        lead.refresh_from_db()
        return Response(lead_detail(lead, request))


# --- tasks ----------------------------------------------------------------------------------
class TaskListApi(CrmApi):
    """Your open personal tasks (an admin: the brokerage's); automated steps are the
    worker's and are not listed."""

    @extend_schema(operation_id="crm_tasks_list", parameters=[TaskQuery],
                   responses={200: CrmTaskPage, **error_responses(400, 401, 403, 404)})
    def get(self, request):
        query = self.parse(TaskQuery, request)
        tasks = selectors.open_tasks(viewer=self.caller(), due=query.get("due"),
                                     time_zone=request.user.time_zone)
        paginator = CrmPagination()
        page = paginator.paginate_queryset(tasks, request, view=self)
        items = []
        for task in page:
            item = dict(CrmTaskOutput(task).data)
            item.update({"lead_name": task.lead.name, "lead_phone": task.lead.phone,
                         "lead_email": task.lead.email, "lead_stage": task.lead.stage})
            items.append(item)
        return paginator.get_paginated_response(items)


class TaskCompleteApi(CrmApi):
    @extend_schema(
        operation_id="crm_tasks_complete", request=None,
        description="Mark the task done without logging a touch; the cadence goes on. "
                    "Completing a task already done changes nothing.",
        responses={200: CrmNextTask, **error_responses(401, 403, 404, 413, 415)})
    def post(self, request, task_id: int):
        task = selectors.visible_task(viewer=self.caller(), task_id=task_id)
        if task is None:
            raise Http404("Not found.")
        next_task = services.complete_task(task=task, by=self.caller())
        lead = Lead.objects.get(pk=task.lead_id)
        return Response(CrmNextTask({"next_task": _scripted(next_task, lead, request)}).data)


# --- cadences -------------------------------------------------------------------------------
def cadence_output(cadence: Cadence) -> dict:
    return CrmCadenceOutput({
        "id": cadence.pk, "name": cadence.name, "description": cadence.description,
        "purpose": cadence.purpose, "is_default": cadence.is_default,
        "updated_at": cadence.updated_at, "steps": list(cadence.steps.all())}).data


class CadenceListCreateApi(CrmApi):
    """The brokerage's cadences (every seat reads them; admins add them)."""

    @extend_schema(operation_id="crm_cadences_list",
                   responses={200: CrmCadenceOutput(many=True),
                              **error_responses(401, 403)})
    def get(self, request):
        return Response([cadence_output(c) for c in selectors.cadences()])

    @extend_schema(
        operation_id="crm_cadences_create", request=CadenceInput,
        description="Admins: a new cadence. Steps in time order (each offset at least the "
                    "one before), at least one.",
        responses={201: CrmCadenceOutput, **error_responses(400, 401, 403, 413, 415)})
    def post(self, request):
        if not self.caller().is_admin:
            raise Forbidden(ADMINS_ONLY)
        data = self.parse(CadenceInput, request)
        cadence = services.save_cadence(by=self.caller(), **data)
        return Response(cadence_output(cadence), status=201)


class CadenceDetailApi(CrmApi):
    def get_cadence(self, cadence_id: int) -> Cadence:
        cadence = selectors.cadence_of(cadence_id=cadence_id)
        if cadence is None:
            raise Http404("Not found.")
        return cadence

    @extend_schema(operation_id="crm_cadences_read",
                   responses={200: CrmCadenceOutput, **error_responses(401, 403, 404)})
    def get(self, request, cadence_id: int):
        return Response(cadence_output(self.get_cadence(cadence_id)))

    @extend_schema(
        operation_id="crm_cadences_replace", request=CadenceInput,
        description="Admins: replace the cadence's name and steps. Leads on it go on from "
                    "the step they are at (steps are matched by position).",
        responses={200: CrmCadenceOutput, **error_responses(400, 401, 403, 404, 413, 415)})
    def put(self, request, cadence_id: int):
        if not self.caller().is_admin:
            raise Forbidden(ADMINS_ONLY)
        cadence = self.get_cadence(cadence_id)
        data = self.parse(CadenceInput, request)
        cadence = services.save_cadence(by=self.caller(), cadence=cadence, **data)
        return Response(cadence_output(cadence))


brokerage_urls = [
    path("api/v1/leads", LeadListCreateApi.as_view(), name="api-crm-leads"),
    path("api/v1/leads/<int:lead_id>", LeadDetailApi.as_view(), name="api-crm-lead"),
    path("api/v1/leads/<int:lead_id>/activities", LeadActivityApi.as_view(),
         name="api-crm-lead-activities"),
    path("api/v1/leads/<int:lead_id>/stage", LeadStageApi.as_view(), name="api-crm-lead-stage"),
    path("api/v1/leads/<int:lead_id>/cadence", LeadCadenceApi.as_view(),
         name="api-crm-lead-cadence"),
    path("api/v1/tasks", TaskListApi.as_view(), name="api-crm-tasks"),
    path("api/v1/tasks/<int:task_id>/complete", TaskCompleteApi.as_view(),
         name="api-crm-task-complete"),
    path("api/v1/cadences", CadenceListCreateApi.as_view(), name="api-crm-cadences"),
    path("api/v1/cadences/<int:cadence_id>", CadenceDetailApi.as_view(),
         name="api-crm-cadence"),
]
